"""`chaosgate report`, `history` and `compare`: reports of kept runs, and comparisons of runs and profiles."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chaosgate.errors import ValidationError
from chaosgate.report.compare import (
    Comparison,
    compare_runs,
    comparison_table,
    contributions_table,
    render_compare,
)
from chaosgate.report.history import list_runs, load_run, resolve_run, trend
from chaosgate.report.view import fmt_score, fmt_time
from chaosgate.report.writer import write_reports
from chaosgate.stack.cli import config_option, run_dir_option

out_option = click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="Where runs are kept.",
)


def _console() -> Console:
    return Console(width=max(Console().width, 140))


@click.command("report")
@click.argument("run", required=False)
@out_option
def report_command(run: str | None, out: Path) -> None:
    """Render RUN's reports again (index.html, junit.xml, summary.md); RUN: run id or path, default latest."""
    result_path = resolve_run(run, out)
    paths = write_reports(load_run(result_path), result_path.parent)
    click.echo(f"junit: {paths.junit}")
    click.echo(f"summary: {paths.markdown}")
    click.echo(str(paths.html))


@click.command("history")
@out_option
def history_command(out: Path) -> None:
    """List the kept runs, oldest first, with each overall score's trend against the run before."""
    runs = list_runs(out)
    if not runs:
        raise ValidationError(f"no runs under {out}")
    table = Table(title=f"runs in {out}")
    for column in ("run", "started", "profile", "scenarios", "overall", "trend", "gate"):
        table.add_column(column, justify="right" if column in ("scenarios", "overall") else "left")
    previous: float | None = None
    for entry in runs:
        arrow = trend(previous, entry.overall)
        colour = {"↑": "green", "↓": "red"}.get(arrow)
        table.add_row(
            entry.run_id,
            fmt_time(entry.started_at),
            entry.profile,
            str(entry.scenarios),
            fmt_score(entry.overall),
            f"[{colour}]{arrow}[/]" if colour else arrow,
            entry.verdict,
        )
        if entry.overall is not None:
            previous = entry.overall
    _console().print(table)


def _write_comparison(cmp: Comparison, out: Path) -> Path:
    path = out / f"compare-{cmp.a.run_id}-{cmp.b.run_id}.html"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(render_compare(cmp), encoding="utf-8")
    return path


@click.command("compare")
@click.argument("items", nargs=-1)
@click.option(
    "--profiles",
    default=None,
    metavar="A,B",
    help="Run the scenarios under both profiles, e.g. baseline,hardened.",
)
@click.option("--all", "run_all", is_flag=True, help="With --profiles: every scenario in scenarios/.")
@click.option(
    "--per-switch", is_flag=True, help="With --profiles A,B: also run B with each exercised switch off."
)
@click.option("--time-scale", type=click.FloatRange(0.05, 10), default=1.0, show_default=True)
@click.option("--keep-stack", is_flag=True, help="Leave a stack this command started running afterwards.")
@config_option
@run_dir_option
@out_option
def compare_command(
    items: tuple[str, ...],
    profiles: str | None,
    run_all: bool,
    per_switch: bool,
    time_scale: float,
    keep_stack: bool,
    config: Path,
    run_dir: Path | None,
    out: Path,
) -> None:
    """Compare RUN_A RUN_B (kept runs), or with --profiles run SCENARIO... (or --all) under both profiles."""
    console = _console()
    if profiles is None:
        if len(items) != 2 or run_all or per_switch:
            raise ValidationError(
                "compare takes RUN_A RUN_B, or --profiles A,B [SCENARIO...|--all] [--per-switch]"
            )
        a, b = (load_run(resolve_run(item, out)) for item in items)
        cmp = compare_runs(a, b)
    else:
        cmp = _compare_profiles(
            items, profiles, run_all, per_switch, time_scale, keep_stack, config, run_dir, out
        )
    console.print(comparison_table(cmp))
    if cmp.contributions:
        console.print(contributions_table(cmp))
    console.print(str(_write_comparison(cmp, out)), highlight=False, soft_wrap=True)


def _compare_profiles(
    names: tuple[str, ...],
    profiles: str,
    run_all: bool,
    per_switch: bool,
    time_scale: float,
    keep_stack: bool,
    config: Path,
    run_dir: Path | None,
    out: Path,
) -> Comparison:
    # Imported here: only this path needs the stack and the runner.
    from chaosgate.api import check_injectors, scenario_paths
    from chaosgate.config import load_topology
    from chaosgate.report.profiles import compare_profiles, parse_profiles
    from chaosgate.scenario.loader import load_scenarios

    topology = load_topology(config)
    pair = parse_profiles(profiles, topology)
    paths = scenario_paths(topology, names, run_all)
    scenarios = load_scenarios(paths, topology)
    check_injectors(scenarios, paths)
    err = Console(stderr=True) if Console(stderr=True).is_terminal else Console(stderr=True, width=160)
    return compare_profiles(
        topology,
        scenarios,
        profiles=pair,
        per_switch=per_switch,
        out=out,
        time_scale=time_scale,
        run_dir=run_dir,
        keep_stack=keep_stack,
        err=err,
    )
