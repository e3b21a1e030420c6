"""The set of proxies and what the API does to it, with Toxiproxy's rules and error codes."""

from __future__ import annotations

from typing import Any

from chaosgate.proxy.guard import LOOPBACK_ONLY, UpstreamAllowList
from chaosgate.proxy.models import (
    Address,
    ApiError,
    ProxyInput,
    ProxyPatch,
    ToxicInput,
    ToxicPatch,
    bad_request,
    check_toxicity,
    parse_address,
    parse_attributes,
    parse_stream,
)
from chaosgate.proxy.proxy import Proxy
from chaosgate.proxy.timer import Timer
from chaosgate.proxy.toxics import TOXIC_TYPES, ToxicSpec

LOOPBACK_RULE = (
    "only loopback addresses (127.0.0.0/8, ::1, localhost) may be listened on; "
    "start the server with --allow-remote to listen elsewhere"
)


class ProxyCollection:
    """All proxies by name; every method either succeeds or raises `ApiError` with nothing changed."""

    def __init__(
        self, *, timer: Timer, allow_remote: bool, upstreams: UpstreamAllowList = LOOPBACK_ONLY
    ) -> None:
        self._timer = timer
        self._allow_remote = allow_remote
        self._upstreams = upstreams
        self._proxies: dict[str, Proxy] = {}

    # -- proxies ---------------------------------------------------------------------------------

    def all(self) -> dict[str, Any]:
        return {name: proxy.to_json() for name, proxy in self._proxies.items()}

    def proxies(self) -> list[Proxy]:
        return list(self._proxies.values())

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    def _listen_address(self, text: str) -> Address:
        address = parse_address(text or "127.0.0.1:0", field="listen")
        if address.host == "localhost":
            address = Address("127.0.0.1", address.port)  # one socket, one port for port 0
        if not self._allow_remote and not address.is_loopback:
            raise bad_request(f"listen {address}: {LOOPBACK_RULE}")
        return address

    def _upstream_address(self, text: str) -> Address:
        return self._upstreams.check(parse_address(text, field="upstream"))

    async def create(self, data: Any) -> Proxy:
        spec = ProxyInput.parse(data)
        if spec.name in self._proxies:
            raise ApiError(409, "proxy already exists")
        return await self._create(spec)

    async def _create(self, spec: ProxyInput) -> Proxy:
        proxy = Proxy(
            name=spec.name,
            listen=self._listen_address(spec.listen),
            upstream=self._upstream_address(spec.upstream),
            timer=self._timer,
        )
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def update(self, name: str, data: Any) -> Proxy:
        proxy = self.get(name)
        patch = ProxyPatch.parse(data)
        listen = self._listen_address(patch.listen) if patch.listen is not None else proxy.listen
        upstream = self._upstream_address(patch.upstream) if patch.upstream is not None else None
        enabled = proxy.enabled if patch.enabled is None else patch.enabled
        moved = listen != proxy.listen or (upstream is not None and upstream != proxy.upstream)
        if moved or not enabled:
            await proxy.stop()
        old_listen = proxy.listen
        proxy.listen = listen
        if upstream is not None:
            proxy.upstream = upstream
        if enabled:
            try:
                await proxy.start()
            except ApiError:
                proxy.listen = old_listen
                raise
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self._proxies[name]

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        for proxy in self._proxies.values():
            proxy.toxics.clear()
            proxy.toxics_changed()
            await proxy.start()

    async def populate(self, data: Any) -> list[Proxy]:
        """Create a list of proxies; an existing one is replaced only if listen or upstream differ."""
        if not isinstance(data, list):
            raise bad_request("bad request body: populate expects a JSON array of proxies")
        specs = [ProxyInput.parse(item) for item in data]  # all checked before anything changes
        for spec in specs:
            self._listen_address(spec.listen)
            self._upstream_address(spec.upstream)
        result = []
        for spec in specs:
            existing = self._proxies.get(spec.name)
            if existing is not None:
                same = parse_address(spec.upstream, field="upstream") == existing.upstream and (
                    not spec.listen or self._listen_address(spec.listen) == existing.listen
                )
                if same:
                    result.append(existing)
                    continue
                await self.delete(spec.name)
            result.append(await self._create(spec))
        return result

    async def close(self) -> None:
        for proxy in self._proxies.values():
            await proxy.stop()

    # -- toxics ----------------------------------------------------------------------------------

    def get_toxic(self, proxy_name: str, toxic_name: str) -> ToxicSpec:
        toxic = self.get(proxy_name).toxics.get(toxic_name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        return toxic

    def add_toxic(self, proxy_name: str, data: Any) -> ToxicSpec:
        proxy = self.get(proxy_name)
        toxic_input = ToxicInput.parse(data)
        cls = TOXIC_TYPES.get(toxic_input.type)
        if cls is None:
            raise bad_request(f"invalid toxic type: {toxic_input.type!r}")
        stream = parse_stream(toxic_input.stream)
        name = toxic_input.name or f"{toxic_input.type}_{stream.value}"
        if name in proxy.toxics:
            raise ApiError(409, "toxic already exists")
        spec = ToxicSpec(
            name=name,
            type=cls.kind.value,
            stream=stream,
            toxicity=toxic_input.toxicity,
            attributes=parse_attributes(cls.kind, toxic_input.attributes),
        )
        proxy.toxics[name] = spec
        proxy.toxics_changed()
        return spec

    def update_toxic(self, proxy_name: str, toxic_name: str, data: Any) -> ToxicSpec:
        proxy = self.get(proxy_name)
        current = self.get_toxic(proxy_name, toxic_name)
        patch = ToxicPatch.parse(data)
        toxicity = current.toxicity if patch.toxicity is None else patch.toxicity
        check_toxicity(toxicity)
        attributes = current.attributes
        if patch.attributes:
            merged = {**current.attributes, **patch.attributes}
            attributes = parse_attributes(TOXIC_TYPES[current.type].kind, merged)
        spec = ToxicSpec(
            name=current.name,
            type=current.type,
            stream=current.stream,
            toxicity=toxicity,
            attributes=attributes,
        )
        proxy.toxics[toxic_name] = spec
        proxy.toxics_changed()
        return spec

    def delete_toxic(self, proxy_name: str, toxic_name: str) -> None:
        proxy = self.get(proxy_name)
        self.get_toxic(proxy_name, toxic_name)
        del proxy.toxics[toxic_name]
        proxy.toxics_changed()
