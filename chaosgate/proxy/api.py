"""Toxiproxy 2.x's HTTP API: routes, JSON bodies and status codes (served by `api_server` on h11).

Why hand-written on h11 rather than a web framework: every answer, including an unknown route,
a wrong method and a malformed request, must be Toxiproxy's exact status and
`{"error": ..., "status": N}` body (frameworks answer those with their own 404/405/422 pages),
and the API shares the data plane's event loop without a second server's signal handling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chaosgate.proxy.collection import ProxyCollection
from chaosgate.proxy.metrics import METRICS_CONTENT_TYPE, render_metrics
from chaosgate.proxy.models import ApiError

# The Toxiproxy API level this server emulates (answered by GET /version).
TOXIPROXY_API_VERSION = "2.12.0"


@dataclass(frozen=True)
class Response:
    status: int
    payload: Any = None
    content_type: str = "application/json"

    def body(self) -> bytes:
        if self.payload is None:
            return b""
        if isinstance(self.payload, str):
            return self.payload.encode()
        return json.dumps(self.payload).encode() + b"\n"

    @classmethod
    def error(cls, error: ApiError) -> Response:
        """Toxiproxy's error body: `{"error": message, "status": N}`."""
        return cls(error.status, error.body())


@dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"bad request body: {exc}") from None


Handler = Callable[[Request], Awaitable[Response]]


class ToxiproxyApi:
    """Maps each Toxiproxy route to an operation on the proxy collection."""

    def __init__(self, collection: ProxyCollection) -> None:
        self._proxies = collection
        name = r"(?P<proxy>[^/]+)"
        toxic = r"(?P<toxic>[^/]+)"
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/version"), {"GET": self.version}),
            (re.compile(r"/metrics"), {"GET": self.metrics}),
            (re.compile(r"/reset"), {"POST": self.reset}),
            (re.compile(r"/populate"), {"POST": self.populate}),
            (re.compile(r"/proxies"), {"GET": self.list_proxies, "POST": self.create_proxy}),
            (
                re.compile(rf"/proxies/{name}"),
                {
                    "GET": self.get_proxy,
                    "POST": self.update_proxy,
                    "PATCH": self.update_proxy,
                    "DELETE": self.delete_proxy,
                },
            ),
            (re.compile(rf"/proxies/{name}/toxics"), {"GET": self.list_toxics, "POST": self.create_toxic}),
            (
                re.compile(rf"/proxies/{name}/toxics/{toxic}"),
                {
                    "GET": self.get_toxic,
                    "POST": self.update_toxic,
                    "PATCH": self.update_toxic,
                    "DELETE": self.delete_toxic,
                },
            ),
        ]

    async def dispatch(self, method: str, target: str, body: bytes) -> Response:
        path = target.split("?", 1)[0].rstrip("/") or "/"
        try:
            for pattern, handlers in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                handler = handlers.get(method)
                if handler is None:
                    raise ApiError(405, f"method {method} not allowed on {path}")
                params = {key: unquote(value) for key, value in match.groupdict().items()}
                return await handler(Request(method, params, body))
            raise ApiError(404, f"no such route: {path}")
        except ApiError as exc:
            return Response.error(exc)
        except Exception as exc:  # a bug must cost one request, not the server
            return Response.error(ApiError(500, f"internal error: {type(exc).__name__}: {exc}"))

    # -- handlers --------------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        return Response(200, {"version": TOXIPROXY_API_VERSION})

    async def metrics(self, request: Request) -> Response:
        return Response(200, render_metrics(self._proxies.proxies()), METRICS_CONTENT_TYPE)

    async def reset(self, request: Request) -> Response:
        await self._proxies.reset()
        return Response(204)

    async def populate(self, request: Request) -> Response:
        proxies = await self._proxies.populate(request.json())
        return Response(201, {"proxies": [proxy.to_json() for proxy in proxies]})

    async def list_proxies(self, request: Request) -> Response:
        return Response(200, self._proxies.all())

    async def create_proxy(self, request: Request) -> Response:
        proxy = await self._proxies.create(request.json())
        return Response(201, proxy.to_json())

    async def get_proxy(self, request: Request) -> Response:
        return Response(200, self._proxies.get(request.params["proxy"]).to_json())

    async def update_proxy(self, request: Request) -> Response:
        proxy = await self._proxies.update(request.params["proxy"], request.json())
        return Response(200, proxy.to_json())

    async def delete_proxy(self, request: Request) -> Response:
        await self._proxies.delete(request.params["proxy"])
        return Response(204)

    async def list_toxics(self, request: Request) -> Response:
        proxy = self._proxies.get(request.params["proxy"])
        return Response(200, [toxic.to_json() for toxic in proxy.toxics.values()])

    async def create_toxic(self, request: Request) -> Response:
        toxic = self._proxies.add_toxic(request.params["proxy"], request.json())
        return Response(200, toxic.to_json())

    async def get_toxic(self, request: Request) -> Response:
        toxic = self._proxies.get_toxic(request.params["proxy"], request.params["toxic"])
        return Response(200, toxic.to_json())

    async def update_toxic(self, request: Request) -> Response:
        toxic = self._proxies.update_toxic(request.params["proxy"], request.params["toxic"], request.json())
        return Response(200, toxic.to_json())

    async def delete_toxic(self, request: Request) -> Response:
        self._proxies.delete_toxic(request.params["proxy"], request.params["toxic"])
        return Response(204)
