"""Client for any Toxiproxy 2.x HTTP API (our embedded proxy or the real one), every call with a timeout.

toxiproxy-python exists, but it does not serve the runner: it keeps the server address in
class attributes (one server per process, global mutable state), its `requests` calls have no
timeout (a wedged proxy would hang a rollback forever), and it drags in `future`. This client is
small, typed, and every call is bounded; the tests still drive our server with toxiproxy-python
to prove compatibility.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from chaosgate.errors import FaultError, TargetGone
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.scenario.models import Toxic as ScenarioToxic
from chaosgate.scenario.models import ToxicType, ToxiproxyFault
from chaosgate.topology import StoreKind

from .linkcheck import LinkCheck, LinkKind, LinkResult, round_trip

DEFAULT_TIMEOUT_S = 5.0


class Stream(StrEnum):
    """Which direction of a proxied connection a toxic acts on."""

    DOWNSTREAM = "downstream"  # server -> client
    UPSTREAM = "upstream"  # client -> server


@dataclass(frozen=True)
class Toxic:
    """A toxic as the API describes it."""

    name: str
    type: str
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = 1.0
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=Stream(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    """A proxy as the API describes it, with its active toxics."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
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

    def toxics(self, proxy: str) -> list[Toxic]:
        return [Toxic.from_json(t) for t in self._call("GET", f"/proxies/{proxy}/toxics").json()]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        stream: Stream | str = Stream.DOWNSTREAM,
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {
            "type": type,
            "stream": str(stream),
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name:
            body["name"] = name
        return Toxic.from_json(self._call("POST", f"/proxies/{proxy}/toxics", json=body).json())

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
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
        return Toxic.from_json(response.json())

    def remove_toxic(self, proxy: str, name: str, *, missing_ok: bool = False) -> None:
        """Remove a toxic; with missing_ok, a toxic that is already gone is not an error (rollback)."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ToxiproxyApiError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    @contextlib.contextmanager
    def toxic(self, proxy: str, type: str, **kwargs: Any) -> Iterator[Toxic]:
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


class ToxiproxyInjector(Injector[ToxiproxyFault]):
    """Link faults through any Toxiproxy: take a proxy down, or add a toxic; verified on the wire."""

    name = "toxiproxy"
    fault = ToxiproxyFault

    # How long verification may wait for a reply: the budget is one second from
    # apply to verified, so slow toxics are verified by the *absence* of a reply.
    VERIFY_BUDGET_S = 0.6

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        self.client = ToxiproxyClient(env.proxy_api_url, timeout_s=env.call_timeout_s)

    def close(self) -> None:
        self.client.close()

    def apply(self, spec: ToxiproxyFault, *, fault_id: str) -> HandleData:
        if spec.down:
            # On a shared Toxiproxy a proxy someone else took down stays theirs: remove() then
            # leaves it as it found it instead of enabling it.
            was_enabled = self._proxy_or_gone(spec.proxy).enabled
            self.client.disable(spec.proxy)
            return {"down": True, "was_enabled": was_enabled}
        assert spec.toxic is not None
        toxic = self.client.add_toxic(
            spec.proxy,
            spec.toxic.type.value,
            attributes=spec.toxic.attributes,
            stream=spec.toxic.stream,
            toxicity=spec.toxic.toxicity,
            name=f"{TOXIC_PREFIX}{fault_id}",
        )
        return {"toxic": toxic.name}

    def remove(self, spec: ToxiproxyFault, data: HandleData) -> None:
        proxy = self._proxy_or_gone(spec.proxy)
        if data.get("down") or spec.down:
            if data.get("was_enabled", True) and not proxy.enabled:
                self.client.enable(spec.proxy)
        elif toxic := data.get("toxic"):
            self.client.remove_toxic(spec.proxy, str(toxic), missing_ok=True)

    def _proxy_or_gone(self, name: str) -> Proxy:
        try:
            return self.client.proxy(name)
        except ToxiproxyApiError as exc:
            if exc.status == 404:
                raise TargetGone(f"the Toxiproxy at {self.client.base_url} has no proxy {name!r}") from exc
            raise

    def verify(self, spec: ToxiproxyFault, data: HandleData) -> str:
        proxy = self.client.proxy(spec.proxy)
        host, _, port = proxy.listen.rpartition(":")
        kind = self._link_kind(spec.proxy)
        budget, until_closed = self.VERIFY_BUDGET_S, False
        if spec.toxic is not None and spec.toxic.type is ToxicType.RESET_PEER:
            # A reset comes `timeout` after the first data: wait for it, within the 1 s budget.
            budget = min(0.9, spec.toxic.attributes.get("timeout", 0) / 1000 + 0.3)
            until_closed = True
        if host in ("", "0.0.0.0", "[::]", "::", "127.0.0.1", "localhost"):
            host = self.env.host  # the proxy's own view of itself: reach it where the stack answers
        check = round_trip(host, int(port), kind, budget_s=budget, until_closed=until_closed)
        if spec.down:
            if proxy.enabled or check.result is LinkResult.REPLIED:
                raise FaultError(f"proxy {spec.proxy!r} still answers after being taken down ({check})")
            return f"link {spec.proxy} down: {check}"
        assert spec.toxic is not None
        name = str(data.get("toxic"))
        if name not in {t.name for t in proxy.toxics}:
            raise FaultError(f"toxic {name!r} is not on proxy {spec.proxy!r}")
        expected = self._expected_effect(spec.toxic)
        if expected is None or spec.toxic.toxicity < 1.0:
            # The effect is statistical or shows only in bulk transfers: the API is the evidence.
            return f"toxic {name} present on {spec.proxy} (probe: {check})"
        if not expected(check):
            raise FaultError(f"toxic {spec.toxic.type.value} on {spec.proxy!r} shows no effect: {check}")
        return f"toxic {spec.toxic.type.value} on {spec.proxy}: {check}"

    def _link_kind(self, proxy: str) -> LinkKind:
        store = self.env.topology.stores.get(proxy)
        kinds = {StoreKind.REDIS: LinkKind.REDIS, StoreKind.POSTGRES: LinkKind.POSTGRES}
        return LinkKind.HTTP if store is None else kinds.get(store.kind, LinkKind.HTTP)  # s3 speaks HTTP

    def _expected_effect(self, toxic: ScenarioToxic) -> Callable[[LinkCheck], bool] | None:
        attrs = toxic.attributes
        if toxic.type is ToxicType.LATENCY:
            delay_s = min(attrs.get("latency", 0) / 1000, self.VERIFY_BUDGET_S * 0.8)
            return lambda c: (
                (c.result is LinkResult.SILENT)
                or (c.result is LinkResult.REPLIED and c.elapsed_s >= 0.8 * delay_s)
            )
        if toxic.type is ToxicType.TIMEOUT:
            return lambda c: c.result in (LinkResult.SILENT, LinkResult.CLOSED, LinkResult.RESET)
        if toxic.type is ToxicType.RESET_PEER and attrs.get("timeout", 0) / 1000 < 0.6:  # within the budget
            return lambda c: c.result in (LinkResult.RESET, LinkResult.CLOSED)
        return None
