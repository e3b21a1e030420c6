"""The client of any Toxiproxy 2.x HTTP API (our embedded proxy or the real one), every call with a timeout.

toxiproxy-python exists, but it does not serve the runner: it keeps the server address in
class attributes (one server per process, global mutable state), its `requests` calls have no
timeout (a wedged proxy would hang a rollback forever), and it drags in `future`. This client is
small, typed, and every call is bounded; the tests still drive our server with toxiproxy-python
to prove compatibility.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from chaosgate.errors import FaultError
from chaosgate.toxics import Stream, ToxicState

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Proxy:
    """A proxy as the API describes it, with its active toxics."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicState, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(ToxicState.from_json(t) for t in data.get("toxics") or ()),
        )


class ToxiproxyClient:
    """Drives one Toxiproxy server. Every call times out; every API error becomes a FaultError."""

    def __init__(
        self, base_url: str = "http://127.0.0.1:8474", *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server -------------------------------------------------------------------------------

    def version(self) -> str:
        response = self._call("GET", "/version")
        try:
            return str(response.json()["version"])
        except (ValueError, KeyError, TypeError):
            return response.text.strip()  # Toxiproxy before 2.5 answered plain text

    def reset(self) -> None:
        """Enable every proxy and remove every toxic: for a Toxiproxy of one's own (tests) only;
        chaosgate never resets a server, which may be shared."""
        self._call("POST", "/reset")

    # -- proxies ------------------------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        data = self._call("GET", "/proxies").json()
        return {name: Proxy.from_json(p) for name, p in data.items()}

    def proxy(self, name: str) -> Proxy:
        return Proxy.from_json(self._call("GET", f"/proxies/{name}").json())

    def create_proxy(self, name: str, *, upstream: str, listen: str, enabled: bool = True) -> Proxy:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return Proxy.from_json(self._call("POST", "/proxies", json=body).json())

    def populate(self, proxies: list[Mapping[str, Any]]) -> list[Proxy]:
        data = self._call("POST", "/populate", json=list(proxies)).json()
        return [Proxy.from_json(p) for p in data.get("proxies", [])]

    def update_proxy(self, name: str, **fields: Any) -> Proxy:
        # PATCH since Toxiproxy 2.6 (POST is deprecated there); a server older than that answers
        # 405 to PATCH, and gets the POST it understands.
        try:
            response = self._call("PATCH", f"/proxies/{name}", json=fields)
        except ToxiproxyApiError as exc:
            if exc.status != 405:
                raise
            response = self._call("POST", f"/proxies/{name}", json=fields)
        return Proxy.from_json(response.json())

    def enable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> Proxy:
        """Take the link down: new connections are refused, open ones dropped."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    # -- toxics -------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[ToxicState]:
        return [ToxicState.from_json(t) for t in self._call("GET", f"/proxies/{proxy}/toxics").json()]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        stream: Stream | str = Stream.DOWNSTREAM,
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicState:
        body: dict[str, Any] = {
            "type": type,
            "stream": str(stream),
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name:
            body["name"] = name
        return ToxicState.from_json(self._call("POST", f"/proxies/{proxy}/toxics", json=body).json())

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> ToxicState:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{proxy}/toxics/{name}"
        try:
            response = self._call("PATCH", path, json=body)
        except ToxiproxyApiError as exc:
            if exc.status != 405:
                raise
            response = self._call("POST", path, json=body)
        return ToxicState.from_json(response.json())

    def remove_toxic(self, proxy: str, name: str, *, missing_ok: bool = False) -> None:
        """Remove a toxic; with missing_ok, a toxic that is already gone is not an error (rollback)."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ToxiproxyApiError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    @contextlib.contextmanager
    def toxic(self, proxy: str, type: str, **kwargs: Any) -> Iterator[ToxicState]:
        """Apply a toxic for the duration of a with-block; it is removed however the block ends."""
        added = self.add_toxic(proxy, type, **kwargs)
        try:
            yield added
        finally:
            self.remove_toxic(proxy, added.name, missing_ok=True)

    @contextlib.contextmanager
    def disabled(self, proxy: str) -> Iterator[Proxy]:
        """Take a link down for the duration of a with-block; it is re-enabled however the block ends."""
        down = self.disable(proxy)
        try:
            yield down
        finally:
            self.enable(proxy)

    # -- transport ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise FaultError(f"toxiproxy at {self.base_url}: {method} {path} timed out") from exc
        except httpx.HTTPError as exc:
            raise FaultError(f"toxiproxy at {self.base_url} is unreachable ({method} {path}): {exc}") from exc
        if response.status_code >= 400:
            raise ToxiproxyApiError(method, path, response)
        return response


TOXIC_PREFIX = "chaosgate-"  # every toxic chaosgate adds is named so; no other toxic is its to touch


class ToxiproxyApiError(FaultError):
    """The API answered with an error status; carries Toxiproxy's status and message."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text.strip()
        self.message = message
        super().__init__(f"toxiproxy: {method} {path} -> {self.status}: {message}")
