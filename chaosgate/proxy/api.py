"""Toxiproxy 2.x's HTTP API: routes, JSON bodies and status codes over a small HTTP/1.1 server.

Why hand-written on h11 rather than a web framework: every answer, including an unknown route,
a wrong method and a malformed request, must be Toxiproxy's exact status and
`{"error": ..., "status": N}` body (frameworks answer those with their own 404/405/422 pages),
and the API shares the data plane's event loop without a second server's signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import h11

from chaosgate.proxy.collection import ProxyCollection
from chaosgate.proxy.models import ApiError

# The Toxiproxy API level this server emulates (answered by GET /version).
TOXIPROXY_API_VERSION = "2.12.0"
MAX_BODY = 1 << 20


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
            return Response(exc.status, exc.body())
        except Exception as exc:  # a bug must cost one request, not the server
            error = ApiError(500, f"internal error: {type(exc).__name__}: {exc}")
            return Response(error.status, error.body())

    # -- handlers --------------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        return Response(200, {"version": TOXIPROXY_API_VERSION})

    async def metrics(self, request: Request) -> Response:
        lines = [
            "# HELP chaosgate_proxy_connections Open connections through each proxy.",
            "# TYPE chaosgate_proxy_connections gauge",
        ]
        for name in self._proxies.all():
            proxy = self._proxies.get(name)
            lines.append(f'chaosgate_proxy_connections{{proxy="{name}"}} {proxy.connection_count}')
        lines += [
            "# HELP chaosgate_proxy_toxics Toxics configured on each proxy.",
            "# TYPE chaosgate_proxy_toxics gauge",
        ]
        for name in self._proxies.all():
            lines.append(f'chaosgate_proxy_toxics{{proxy="{name}"}} {len(self._proxies.get(name).toxics)}')
        return Response(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")

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


async def _send(writer: asyncio.StreamWriter, conn: h11.Connection, response: Response) -> None:
    body = response.body()
    headers: list[tuple[str, str]] = []
    if response.status != 204:  # a 204 carries neither a body nor its headers
        headers = [("Content-Length", str(len(body))), ("Content-Type", response.content_type)]
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    if body:
        data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
    data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
    writer.write(data)
    await writer.drain()


async def _read_request(
    reader: asyncio.StreamReader, conn: h11.Connection
) -> tuple[h11.Request, bytes] | None:
    """The next request and its body, or None when the client is gone."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and conn.their_state is not h11.SEND_BODY and request is None:
                return None
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def serve_http(api: ToxiproxyApi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP/1.1 client connection, with keep-alive; a malformed request gets a 400 and a close."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            try:
                got = await _read_request(reader, conn)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    error = ApiError(exc.error_status_hint, f"bad request: {exc}")
                    await _send(writer, conn, Response(error.status, error.body()))
                return
            if got is None:
                return
            request, body = got
            response = await api.dispatch(request.method.decode(), request.target.decode("latin-1"), body)
            await _send(writer, conn, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (ConnectionError, h11.LocalProtocolError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
