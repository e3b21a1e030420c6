"""Loading scenario files: YAML → typed Scenario, then checked against the topology it will run on."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from pathlib import Path

from chaosgate.errors import Location, Problem, ValidationError
from chaosgate.scenario.models import (
    BUILTIN_INJECTORS,
    DiskFault,
    DockerFault,
    FaultBase,
    NetemFault,
    PartitionFault,
    PoolFault,
    PressureFault,
    ProcessFault,
    Scenario,
    ToxiproxyFault,
    scenario_model,
)
from chaosgate.topology import StoreKind, Topology
from chaosgate.yamlio import YamlDocument, load_yaml, validate

# The compose runtime's own containers beside the topology's (chaosgate/compose.py).
RUNTIME_CONTAINERS = frozenset({"toxiproxy", "prometheus"})


def load_scenario(
    path: Path | str, topology: Topology | None = None, *, probed: Collection[str] | None = None
) -> Scenario:
    """Load one scenario; with a topology, every name in it must exist there, and with `probed` (the
    features a run would probe) every feature it expects must be one. Errors name file, line, key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ValidationError(
            "a scenario is a mapping (name, title, target, faults, ...)", Location(doc.path, 1)
        )
    scenario = validate(doc, scenario_model(_plugin_faults(doc)))
    if topology is not None:
        check_against_topology(scenario, doc, topology, probed=probed)
    return scenario


def _plugin_faults(doc: YamlDocument) -> list[type[FaultBase]]:
    """The injector plugins' fault models, looked up only when a fault names an injector chaosgate
    does not ship (a scenario of built-in faults loads even where a plugin is broken)."""
    faults = doc.data.get("faults") if isinstance(doc.data, dict) else None
    named = {f.get("injector") for f in faults if isinstance(f, dict)} if isinstance(faults, list) else set()
    if named <= BUILTIN_INJECTORS:
        return []
    from chaosgate.registry import (
        plugin_faults,  # entry points are read only when a plugin is named
    )

    return list(plugin_faults().values())


def load_scenarios(paths: Iterable[Path | str], topology: Topology | None = None) -> list[Scenario]:
    """Load several scenarios; names must be unique across them."""
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for path in paths:
        scenario = load_scenario(path, topology)
        if scenario.name in seen:
            raise ValidationError(
                f"scenario name {scenario.name!r} is already used by {seen[scenario.name]}",
                Location(path, 0, "name"),
            )
        seen[scenario.name] = Path(path)
        scenarios.append(scenario)
    return scenarios


def check_against_topology(
    scenario: Scenario, doc: YamlDocument, topology: Topology, *, probed: Collection[str] | None = None
) -> None:
    """Every component, link, service, store and feature the scenario names must be in chaos.yaml,
    and (given `probed`) every feature it expects must have a probe, else its `expect` could only
    ever score as a mismatch. All problems are reported at once, each at its own line.
    """
    components = {*topology.stores, *topology.services}
    sql = {n for n, s in topology.stores.items() if s.kind is StoreKind.POSTGRES}
    checks: list[tuple[str, set[str], str, tuple[str | int, ...]]] = [
        (scenario.target, components, "component", ("target",))
    ]
    for i, fault in enumerate(scenario.faults):
        if isinstance(fault, ToxiproxyFault):
            checks.append((fault.proxy, set(topology.links), "link (proxy)", ("faults", i, "proxy")))
        elif isinstance(fault, ProcessFault):
            checks.append((fault.service, set(topology.services), "service", ("faults", i, "service")))
        elif isinstance(fault, PoolFault):
            checks.append((fault.store, sql, "SQL store", ("faults", i, "store")))
        elif isinstance(fault, DiskFault):
            checks.append((fault.store, set(topology.stores), "store", ("faults", i, "store")))
        elif (
            isinstance(fault, DockerFault | PartitionFault | NetemFault | PressureFault)
            and topology.remote is None
        ):
            # On a compose stack chaosgate generated, a container is one of its compose services.
            containers = {*components, *RUNTIME_CONTAINERS}
            checks.append((fault.container, containers, "container", ("faults", i, "container")))
    for feature in scenario.expect:
        checks.append((feature, set(topology.features), "feature", ("expect", feature)))
    for i, writer in enumerate(scenario.workload.writers):
        checks.append((writer, set(topology.writers), "ledger writer", ("workload", "writers", i)))
    problems = [
        _unknown(name, valid, what, doc, keys) for name, valid, what, keys in checks if name not in valid
    ]
    if probed is not None:
        problems += [
            Problem(
                f"feature {feature!r} has no probe, so this expectation could never be met: declare "
                f"features.{feature}.probe in {topology.source.name}, or use a probe plugin that has one",
                doc.location("expect", feature),
            )
            for feature in scenario.expect
            if feature in topology.features and feature not in probed
        ]
    if problems:
        raise ValidationError.of(problems)


def _unknown(
    name: str, valid: set[str], what: str, doc: YamlDocument, keys: tuple[str | int, ...]
) -> Problem:
    close = difflib.get_close_matches(name, sorted(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(sorted(valid)) or "(none in chaos.yaml)"
    return Problem(f"unknown {what} {name!r}{hint}; valid: {listed}", doc.location(*keys))
