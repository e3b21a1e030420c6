"""Which hardening switches act on a scenario's fault: the map `compare --profiles` credits fixes with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaosgate.result import FaultRecord, ScenarioResult

# A fault on a store (the proxy or store it breaks) → the fixes that act on that store's failure.
STORE_SWITCHES: Mapping[str, tuple[str, ...]] = {
    "redis": ("redis_retry", "redis_fallback", "presence_fail_open", "polling_fallback"),
    "cassandra": ("message_cache", "store_timeouts"),
    "cockroach": ("pool_limits", "store_timeouts"),
    "cockroachdb": ("pool_limits", "store_timeouts"),
    "push-provider": ("push_timeouts",),
    "push_provider": ("push_timeouts",),
}
# Injectors whose fault only one family of fixes answers, whatever the target.
INJECTOR_SWITCHES: Mapping[str, tuple[str, ...]] = {
    "wsflood": ("ws_cap",),
    "pool": ("pool_limits", "store_timeouts"),
    "provider": ("push_timeouts",),
}
# A slow or broken link to a service, or a crashed service: the gateway's defences.
SERVICE_SWITCHES: tuple[str, ...] = ("circuit_breaker", "proxy_timeouts", "request_timeout")


def _fault_switches(fault: FaultRecord, target: str) -> tuple[str, ...]:
    if fault.injector in INJECTOR_SWITCHES:
        return INJECTOR_SWITCHES[fault.injector]
    where = next(
        (str(fault.spec[k]) for k in ("store", "proxy", "service") if isinstance(fault.spec.get(k), str)),
        target,
    )
    return STORE_SWITCHES.get(where, STORE_SWITCHES.get(target, SERVICE_SWITCHES))


def switches_for(scenario: ScenarioResult) -> list[str]:
    """The switches a scenario exercises, in a stable order, without repeats: its own `exercises`
    list, or (for runs recorded before scenarios said so) what its faults suggest."""
    if scenario.exercises:
        return list(dict.fromkeys(scenario.exercises))
    faults: Iterable[FaultRecord] = scenario.faults
    found: dict[str, None] = {}
    for fault in faults:
        found.update(dict.fromkeys(_fault_switches(fault, scenario.target)))
    if not found:  # an aborted scenario injected nothing: fall back on its target
        found.update(dict.fromkeys(STORE_SWITCHES.get(scenario.target, SERVICE_SWITCHES)))
    return list(found)
