"""Loading scenario files: YAML → typed Scenario, then checked against the topology it will run on."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chaosgate.errors import Location, ValidationError
from chaosgate.scenario.models import PoolFault, ProcessFault, Scenario, ToxiproxyFault
from chaosgate.topology import StoreKind, Topology
from chaosgate.yamlio import YamlDocument, load_yaml, validate


def load_scenario(path: Path | str, topology: Topology | None = None) -> Scenario:
    """Load one scenario; with a topology, every name in it must exist there. Errors name file, line, key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ValidationError(
            "a scenario is a mapping (name, title, target, faults, ...)", Location(doc.path, 1)
        )
    scenario = validate(doc, Scenario)
    if topology is not None:
        check_against_topology(scenario, doc, topology)
    return scenario


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


def check_against_topology(scenario: Scenario, doc: YamlDocument, topology: Topology) -> None:
    """Every component, link, service, store and feature the scenario names must be in chaos.yaml."""
    components = {*topology.stores, *topology.services, "push-provider"}
    _require(scenario.target, components, "component", doc, "target")
    for i, fault in enumerate(scenario.faults):
        if isinstance(fault, ToxiproxyFault):
            _require(fault.proxy, set(topology.links), "link (proxy)", doc, "faults", i, "proxy")
        elif isinstance(fault, ProcessFault):
            _require(fault.service, set(topology.services), "service", doc, "faults", i, "service")
        elif isinstance(fault, PoolFault):
            sql = {n for n, s in topology.stores.items() if s.kind is StoreKind.POSTGRES}
            _require(fault.store, sql, "SQL store", doc, "faults", i, "store")
    for feature in scenario.expect:
        _require(feature, set(topology.features), "feature", doc, "expect", feature)


def _require(name: str, valid: set[str], what: str, doc: YamlDocument, *keys: str | int) -> None:
    if name not in valid:
        raise ValidationError(
            f"unknown {what} {name!r}; valid: {', '.join(sorted(valid)) or '(none in chaos.yaml)'}",
            doc.location(*keys),
        )
