"""Which hardening switches act on a scenario's fault: what `compare --profiles` credits fixes with.

A scenario says so itself (`exercises:`); where it names none, chaos.yaml's `switches:` map does,
from the scenario's faults: the target's vocabulary lives in its chaos.yaml, not here.
"""

from __future__ import annotations

from chaosgate.result import FaultRecord, ScenarioResult
from chaosgate.topology import SwitchMap, Topology

_COMPONENT_KEYS = ("store", "proxy", "service")  # the spec keys that name what a fault breaks


def switches_for(scenario: ScenarioResult, topology: Topology) -> list[str]:
    """The switches a scenario exercises, in a stable order, without repeats: its own `exercises`
    list, or what chaos.yaml's `switches:` map says of its faults (of its target when it injected
    none)."""
    if scenario.exercises:
        return list(dict.fromkeys(scenario.exercises))
    known = _by_component(topology)
    found: dict[str, None] = {}
    for fault in scenario.faults:
        found.update(dict.fromkeys(_fault_switches(fault, scenario.target, topology.switches, known)))
    if not found:  # an aborted scenario injected nothing: fall back on its target
        found.update(dict.fromkeys(known.get(scenario.target, topology.switches.default)))
    return list(found)


def _by_component(topology: Topology) -> dict[str, list[str]]:
    """The map's components, each also under its store's role (a fault may name either)."""
    known = dict(topology.switches.components)
    for name, store in topology.stores.items():
        if name in known and store.role:
            known.setdefault(store.role, known[name])
    return known


def _fault_switches(
    fault: FaultRecord, target: str, switches: SwitchMap, known: dict[str, list[str]]
) -> list[str]:
    if fault.injector in switches.injectors:
        return switches.injectors[fault.injector]
    where = next(
        (str(fault.spec[k]) for k in _COMPONENT_KEYS if isinstance(fault.spec.get(k), str)),
        target,
    )
    return known.get(where, known.get(target, switches.default))
