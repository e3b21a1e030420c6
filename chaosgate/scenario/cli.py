"""`chaosgate validate FILE...`: check scenario files without touching any system."""

from __future__ import annotations

from pathlib import Path

import click

from chaosgate.errors import ValidationError
from chaosgate.scenario.loader import load_scenarios
from chaosgate.topology import Topology, load_topology


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=Path("chaos.yaml"),
    show_default=True,
    help="Topology the scenarios must fit (components, links, features).",
)
@click.option("--no-topology", is_flag=True, help="Check only the files themselves, not the names they use.")
def validate_command(files: tuple[Path, ...], config_path: Path, no_topology: bool) -> None:
    """Check scenario FILES; print one line per file, exit 2 if any is invalid."""
    topology: Topology | None = None
    if not no_topology:
        if not config_path.exists():
            raise ValidationError(
                f"configuration {config_path} not found; pass --config PATH or --no-topology"
            )
        topology = load_topology(config_path)
    failed = 0
    for path in files:
        try:
            (scenario,) = load_scenarios([path], topology)
        except ValidationError as exc:
            failed += 1
            for i, problem in enumerate(exc.problems):  # one line each, aligned under the first
                click.echo(f"{'invalid' if i == 0 else '':9}{problem}", err=True)
        else:
            click.echo(f"ok       {path} ({scenario.name}: {len(scenario.faults)} fault(s))")
    if failed:
        raise click.exceptions.Exit(2)
