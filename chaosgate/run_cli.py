"""`chaosgate run` and `chaosgate list`: run scenarios against the stack and gate on the readiness score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console

from chaosgate.api import plan_run, run_on_stack, running_stack, scenario_paths, stack_for
from chaosgate.config import load_topology
from chaosgate.errors import Location, StackError, ValidationError
from chaosgate.gate import EXIT_INCONCLUSIVE, FLOOR_HELP, Floor, GatePolicy, parse_floors
from chaosgate.preflight import Endpoints, check_stack, plan_lines, read_back_lines
from chaosgate.probes.declared import plugin_for
from chaosgate.progress import summary_table
from chaosgate.repeat import GateOn, repeat_table
from chaosgate.report.view import gate_reasons
from chaosgate.result import RunResult
from chaosgate.scenario.loader import load_scenarios
from chaosgate.scenario.models import Scenario
from chaosgate.stack.cli import config_option, run_dir_option
from chaosgate.stack.handover import parse_switches
from chaosgate.stack.launcher import LocalStack
from chaosgate.topology import Topology


@click.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every scenario in scenarios/.")
@click.option(
    "--profile",
    default=None,
    help="The target's hardening profile: one of chaos.yaml's `profiles` [default: its default_profile].",
)
@click.option("--switch", "switch_items", multiple=True, metavar="NAME=on|off", help="Override one switch.")
@click.option(
    "--min-score", type=click.FloatRange(0, 100), default=None, help="Gate: overall readiness floor."
)
@click.option("--floor", "floor_items", multiple=True, metavar="DIMENSION=VALUE", help=f"Gate: {FLOOR_HELP}.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("reports"), show_default=True
)
@click.option(
    "--time-scale",
    type=click.FloatRange(0.05, 10),
    default=1.0,
    show_default=True,
    help="Multiply steady windows and fault durations (e.g. 0.25 for a smoke run).",
)
@click.option("--keep-stack", is_flag=True, help="Leave a stack this command started running afterwards.")
@click.option(
    "--repeat", type=click.IntRange(1, 100), default=1, show_default=True, help="Run each scenario N times."
)
@click.option(
    "--gate-on",
    type=click.Choice([g.value for g in GateOn]),
    default=GateOn.WORST.value,
    show_default=True,
    help="With --repeat: gate on the worst repetition, or the one a share of them reaches (p50, p90).",
)
@click.option(
    "--locust-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="The load: a Locust master and N local worker processes (0: one Locust process).",
)
@click.option(
    "--capacity",
    type=click.FloatRange(min=1),
    default=None,
    metavar="RPS",
    help="The stack's capacity in requests/s, instead of calibrating it (e.g. a production figure).",
)
@click.option(
    "--load-fraction",
    type=click.FloatRange(0, 1),
    default=None,
    help="Steady load as a share of the calibrated capacity (default: chaos.yaml load.fraction; 0: none).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan and check the stack (its proxies, its services) without touching anything.",
)
@config_option
@run_dir_option
def run_command(
    names: tuple[str, ...],
    run_all: bool,
    profile: str | None,
    switch_items: tuple[str, ...],
    min_score: float | None,
    floor_items: tuple[str, ...],
    out: Path,
    time_scale: float,
    keep_stack: bool,
    repeat: int,
    gate_on: str,
    locust_workers: int,
    load_fraction: float | None,
    capacity: float | None,
    dry_run: bool,
    config: Path,
    run_dir: Path | None,
) -> None:
    """Run SCENARIO names (or --all) and exit 0 when the gate holds, 1 when it does not, 2 on bad input."""
    # Everything is validated before anything is touched.
    topology = load_topology(config)
    scenarios = _planned_scenarios(topology, names, run_all)
    plugin_for(topology)  # every feature probed, every writer provided: said before any stack is reached
    min_score, floors = _gate_bounds(topology, min_score, floor_items)
    profile_given = profile is not None
    profile = profile or topology.profile
    switches = _checked_settings(topology, profile, profile_given, switch_items)
    if dry_run:
        dry_run_report(topology, scenarios, run_dir=run_dir, profile=profile, time_scale=time_scale)
        return
    err = Console(stderr=True) if Console(stderr=True).is_terminal else Console(stderr=True, width=160)
    with running_stack(
        topology,
        run_dir=run_dir,
        profile=profile,
        switches=switches,
        keep_stack=keep_stack,
        err=err,
        profile_given=profile_given,
    ) as stack:
        result = run_on_stack(
            stack,
            topology,
            scenarios,
            out=out,
            time_scale=time_scale,
            err=err,
            gate=GatePolicy(min_score=min_score, floors=floors, repeat=repeat, gate_on=GateOn(gate_on)),
            locust_workers=locust_workers,
            load_fraction=load_fraction,
            capacity_rps=capacity,
        )
    verdict = _print_outcome(result, out)
    if verdict == "FAIL":
        raise click.exceptions.Exit(1)
    if verdict == "INCONCLUSIVE":
        raise click.exceptions.Exit(EXIT_INCONCLUSIVE)


def _planned_scenarios(topology: Topology, names: tuple[str, ...], run_all: bool) -> list[Scenario]:
    """The scenarios to run; with --all, those the runtime cannot run are named on stderr."""
    plan = plan_run(topology, names, run_all=run_all)
    if plan.skipped:  # --all: every scenario that applies here; the others are named
        skipped = ", ".join(plan.skipped)
        click.echo(f"--all on the {plan.runtime} runtime skips {skipped} (container faults)", err=True)
    return plan.scenarios


def _checked_settings(
    topology: Topology, profile: str, profile_given: bool, switch_items: tuple[str, ...]
) -> dict[str, bool]:
    """--profile checked against chaos.yaml, --switch items parsed: the switches to start the stack with."""
    # Against a remote stack, --profile may only name what runs there (remote.profile).
    if topology.remote is None or profile_given:
        topology.check_profile(profile)
    try:
        return parse_switches(switch_items)
    except ValueError as exc:
        raise ValidationError(f"--switch {exc}") from None


def _gate_bounds(
    topology: Topology, min_score: float | None, floor_items: tuple[str, ...]
) -> tuple[float | None, list[Floor]]:
    """The gate's score floor and dimension floors: chaos.yaml's, unless --min-score or --floor is given."""
    if min_score is None and not floor_items:
        return topology.gate.min_score, gate_floors(topology)
    return min_score, parse_floors(floor_items)


def _print_outcome(result: RunResult, out: Path) -> str:
    """The summary, the gate's verdict with its reasons and the reports' paths; returns the verdict."""
    console = Console(width=max(Console().width, 140))
    console.print(summary_table(result))
    if result.repeat is not None:
        console.print(repeat_table(result))
    assert result.gate is not None
    report = out / result.run_id / "result.json"
    console.print(f"result: {report}")
    verdict = result.gate.verdict
    if verdict == "PASS":
        console.print("[green]gate: PASS[/]")
    elif verdict == "FAIL":
        console.print("[red]gate: FAIL[/] — " + "; ".join(gate_reasons(result)), highlight=False)
    else:
        console.print(
            "[yellow]gate: INCONCLUSIVE[/] (machine saturated; run again on a quieter machine) — "
            + "; ".join(result.gate.inconclusive)
        )
    # The README promises that the job's last line is the HTML report's path.
    console.print(str(out / result.run_id / "index.html"), highlight=False, soft_wrap=True)
    return verdict


def dry_run_report(
    topology: Topology,
    scenarios: Sequence[Scenario],
    *,
    run_dir: Path | None,
    profile: str,
    time_scale: float,
) -> None:
    """The plan, then the stack checked with read-only requests; StackError (exit 3) naming every
    problem at once. Starts nothing, changes nothing on the proxy, writes no ledger."""
    click.echo("plan:")
    for line in plan_lines(scenarios, topology, time_scale=time_scale):
        click.echo(f"  {line}")
    stack = stack_for(topology, run_dir=run_dir, profile=profile)
    where = f"the stack at {topology.host}"
    if isinstance(stack, LocalStack):
        if not stack.is_up():
            click.echo(
                f"stack: the local stack in {stack.run_dir} is not running; a run would start it "
                f"(profile {profile}), so there is nothing to check yet"
            )
            return
        where = f"the local stack in {stack.run_dir}"
    health = {name: f"{stack.url_of(name)}{topology.health_path(name)}" for name in stack.services}
    endpoints = Endpoints(proxy_api=stack.proxy_api_url, health=health)
    problems = check_stack(endpoints, topology, scenarios)
    if problems:
        raise StackError(f"{where} lacks what the run needs:\n  - " + "\n  - ".join(problems))
    click.echo(
        f"stack: {where}: every link has its proxy on the Toxiproxy at {stack.proxy_api_url}, "
        f"and {len(endpoints.health)} service(s) answer; nothing was touched"
    )
    findings = read_back_lines(topology, scenarios, stack.gateway_url)
    if findings:  # a read-back that cannot see, named before a run reports every write lost
        click.echo("read-backs (each read once, GET only):")
        for line in findings:
            click.echo(f"  {line}")


def gate_floors(topology: Topology) -> list[Floor]:
    """chaos.yaml's `gate.floors`, each error naming its place there."""
    floors: list[Floor] = []
    for i, item in enumerate(topology.gate.floors):
        try:
            floors += parse_floors([item])
        except ValidationError as exc:
            raise ValidationError(exc.detail, Location(topology.source, 0, f"gate.floors[{i}]")) from None
    return floors


@click.command("list")
@config_option
def list_command(config: Path) -> None:
    """List the scenarios in scenarios/ (next to chaos.yaml)."""
    topology = load_topology(config)
    for scenario in load_scenarios(scenario_paths(topology, (), True), topology):
        faults = ", ".join(f.injector for f in scenario.faults)
        where = f"target {scenario.target:<10}"
        click.echo(f"{scenario.name:<28} w{scenario.weight:<4g} {where} {faults:<12} {scenario.title}")
