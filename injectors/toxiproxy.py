"""The `toxiproxy` injector: a link fault through any Toxiproxy 2.x (our embedded proxy or the real one):
take a proxy down, or add a toxic, verified on the wire (chaosgate/proxy/client.py drives the API)."""

from __future__ import annotations

from collections.abc import Callable

from chaosgate.errors import FaultError, TargetGone
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.proxy.client import TOXIC_PREFIX, Proxy, ToxiproxyApiError, ToxiproxyClient
from chaosgate.scenario.models import Toxic as ScenarioToxic
from chaosgate.scenario.models import ToxiproxyFault
from chaosgate.topology import StoreKind
from chaosgate.toxics import ToxicType

from .linkcheck import LinkCheck, LinkKind, LinkResult, round_trip


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
