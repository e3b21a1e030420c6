"""`chaosgate validate FILE...`: check scenario files and chaos.yaml without touching any system."""

from __future__ import annotations

from pathlib import Path

import click

from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.scenario.loader import load_scenario
from chaosgate.scenario.models import Scenario
from chaosgate.topology import Topology
from chaosgate.yamlio import load_yaml

TOPOLOGY_NAMES = frozenset({"chaos.yaml", "chaos.yml"})
# Keys only a chaos.yaml has at its top level (a scenario has `faults` and `target` instead).
TOPOLOGY_KEYS = frozenset({"services", "gateway", "links", "stores", "service_defaults"})


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="chaos.yaml: the topology scenarios must fit, checked itself when no FILES are given "
    "[default: the chaos.yaml among FILES, else ./chaos.yaml].",
)
@click.option("--no-topology", is_flag=True, help="Check only the files themselves, not the names they use.")
def validate_command(files: tuple[Path, ...], config_path: Path | None, no_topology: bool) -> None:
    """Check scenario FILES and chaos.yaml files (told apart by file name, else by content), or with
    --config alone that chaos.yaml. One line per file; exit 2 if any is invalid."""
    if not files and config_path is None:
        raise click.UsageError("give scenario FILES, a chaos.yaml, or --config CHAOS_YAML")
    topologies = [path for path in files if is_topology(path)] if files else [config_path]
    scenarios = [path for path in files if path not in topologies]
    checked = {path: _checked_topology(path) for path in topologies if path is not None}
    failed = sum(1 for topology in checked.values() if topology is None)
    if scenarios:
        topology = None if no_topology else _topology_for(config_path, checked)
        probed = probed_features(topology) if topology is not None else None
        failed += sum(1 for path in scenarios if _checked_scenario(path, topology, probed) is None)
    if failed:
        raise click.exceptions.Exit(2)


def is_topology(path: Path) -> bool:
    """A chaos.yaml, by its file name or (any other name) by its top-level keys."""
    if path.name in TOPOLOGY_NAMES:
        return True
    try:
        data = load_yaml(path).data
    except ValidationError:
        return False  # unreadable either way: the scenario loader says why
    return isinstance(data, dict) and "faults" not in data and bool(TOPOLOGY_KEYS & set(data))


def check_topology(path: Path) -> Topology:
    """chaos.yaml as a run loads it, and its probes: every feature probed, every writer provided."""
    from chaosgate.probes.declared import plugin_for  # imports the probe plugin chaos.yaml names

    topology = load_topology(path)
    plugin_for(topology)
    return topology


def probed_features(topology: Topology) -> set[str]:
    """The features a run would probe: those chaos.yaml declares a probe for, and the plugin's."""
    from chaosgate.probes.plugin import load_plugin

    name = topology.probes.plugin
    declared = {feature for feature, spec in topology.features.items() if spec.probe is not None}
    return declared | (set(load_plugin(name).probes) if name else set())


def _topology_for(config_path: Path | None, checked: dict[Path, Topology | None]) -> Topology:
    """What scenarios must fit: --config, else the one chaos.yaml among FILES, else ./chaos.yaml."""
    given = [path for path in checked if path is not None]
    chosen = config_path or (given[0] if len(given) == 1 else Path("chaos.yaml"))
    if chosen in checked:
        topology = checked[chosen]
        if topology is None:  # its problems are printed above
            raise click.exceptions.Exit(2)
        return topology
    if not chosen.exists():
        raise ValidationError(f"configuration {chosen} not found; pass --config PATH or --no-topology")
    return load_topology(chosen)


def _checked_topology(path: Path) -> Topology | None:
    try:
        topology = check_topology(path)
    except ValidationError as exc:
        _print_problems(exc)
        return None
    counts = f"{len(topology.services)} service(s), {len(topology.features)} feature(s)"
    click.echo(f"ok       {path} (topology: {counts})")
    return topology


def _checked_scenario(path: Path, topology: Topology | None, probed: set[str] | None) -> Scenario | None:
    try:
        scenario = load_scenario(path, topology, probed=probed)
    except ValidationError as exc:
        _print_problems(exc)
        return None
    click.echo(f"ok       {path} ({scenario.name}: {len(scenario.faults)} fault(s))")
    return scenario


def _print_problems(exc: ValidationError) -> None:
    for i, problem in enumerate(exc.problems):  # one line each, aligned under the first
        click.echo(f"{'invalid' if i == 0 else '':9}{problem}", err=True)
