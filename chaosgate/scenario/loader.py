"""Loading scenario files: YAML → typed Scenario, then checked against the topology it will run on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from chaosgate.errors import Location, Problem, ValidationError
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
    """Every component, link, service, store and feature the scenario names must be in chaos.yaml.

    All unknown names are reported at once, each at its own line.
    """
    components = {*topology.stores, *topology.services, "push-provider"}
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
    for feature in scenario.expect:
        checks.append((feature, set(topology.features), "feature", ("expect", feature)))
    problems = [
        _unknown(name, valid, what, doc, keys) for name, valid, what, keys in checks if name not in valid
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
