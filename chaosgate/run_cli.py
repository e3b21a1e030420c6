"""`chaosgate run` and `chaosgate list`: run scenarios against the stack and gate on the readiness score."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console

from chaosgate.errors import Interrupted, Location, StackError, ValidationError
from chaosgate.gate import EXIT_INCONCLUSIVE, FLOOR_HELP, Floor, GatePolicy, parse_floors
from chaosgate.harness import Harness
from chaosgate.injectors.base import EVERY_RUNTIME, Runtime, default_injectors, runtime_of
from chaosgate.preflight import Endpoints, check_stack, plan_lines, read_back_lines
from chaosgate.probes.declared import plugin_for
from chaosgate.progress import ConsoleProgress, summary_table
from chaosgate.repeat import GateOn, repeat_table
from chaosgate.report import write_reports
from chaosgate.report.view import gate_reasons
from chaosgate.result import RunResult
from chaosgate.runner import RunSettings
from chaosgate.scenario.loader import load_scenarios
from chaosgate.scenario.models import Scenario
from chaosgate.stack.cli import Progress, config_option, run_dir_option
from chaosgate.stack.compose_runtime import ComposeStack
from chaosgate.stack.launcher import LocalStack, parse_switches
from chaosgate.stack.remote import RemoteStack, attaches
from chaosgate.stack.running import RunningStack
from chaosgate.topology import Topology, load_topology


def scenario_paths(topology: Topology, names: tuple[str, ...], run_all: bool) -> list[Path]:
    """Names (looked up in scenarios/ next to chaos.yaml) or paths; --all takes every file there
    (`applicable` then keeps those whose faults this runtime can inject)."""
    folder = topology.source.parent / "scenarios"
    if run_all:
        if names:
            raise ValidationError("give scenario names or --all, not both")
        paths = sorted(folder.glob("*.yaml"))
        if not paths:
            raise ValidationError(f"--all: no scenario files in {folder}")
        return paths
    if not names:
        raise ValidationError("name at least one scenario, or pass --all (see `chaosgate list`)")
    paths = []
    for name in names:
        path = Path(name)
        if not path.suffix:
            path = folder / f"{name}.yaml"
        if not path.exists():
            known = ", ".join(p.stem for p in sorted(folder.glob("*.yaml"))) or "none"
            raise ValidationError(f"no scenario {name!r} ({path} does not exist); known: {known}")
        paths.append(path)
    return paths


def check_injectors(scenarios: list[Scenario], paths: list[Path], *, runtime: Runtime | None = None) -> None:
    """Every fault's injector must exist here, and act on `runtime`, before anything is touched."""
    available = default_injectors()
    for scenario, path in zip(scenarios, paths, strict=True):
        for i, fault in enumerate(scenario.faults):
            if fault.injector not in available:
                raise ValidationError(
                    f"injector {fault.injector!r} is not available on this runtime; "
                    f"available: {', '.join(sorted(available))}",
                    Location(path, 0, f"faults[{i}].injector"),
                )
            where = _runtimes(available[fault.injector])
            if runtime is not None and runtime not in where:
                hint = (
                    ": its faults act on containers; set `runtime: compose` in chaos.yaml and start that "
                    "stack with `chaosgate stack up`"
                    if "local" not in where
                    else ""
                )
                raise ValidationError(
                    f"injector {fault.injector!r} runs on the {' or '.join(sorted(where))} runtime, "
                    f"not {runtime}{hint}",
                    Location(path, 0, f"faults[{i}].injector"),
                )


def _runtimes(factory: object) -> frozenset[Runtime]:
    """Where an injector acts (a plugin factory that says nothing: everywhere)."""
    runtimes: frozenset[Runtime] = getattr(factory, "runtimes", EVERY_RUNTIME)
    return runtimes


def applicable(scenarios: list[Scenario], runtime: Runtime) -> list[int]:
    """The indexes of the scenarios each of whose faults this runtime can inject."""
    available = default_injectors()
    return [
        i
        for i, scenario in enumerate(scenarios)
        if all(runtime in _runtimes(available.get(f.injector)) for f in scenario.faults)
    ]


@contextlib.contextmanager
def running_stack(
    topology: Topology,
    *,
    run_dir: Path | None,
    profile: str,
    switches: Mapping[str, bool],
    keep_stack: bool,
    err: Console,
    profile_given: bool = True,
) -> Iterator[RunningStack]:
    """The stack up with `profile`/`switches` (started or reused); stopped afterwards if this started it.

    With chaos.yaml's `remote:` (or the compose runtime) nothing is started: the stack there is checked
    and used as it runs, and `profile`/`switches` must not ask for something else."""
    if topology.remote is None and topology.runtime == "compose":
        composed = ComposeStack(topology, run_dir=run_dir)
        if switches:
            raise ValidationError(
                "--switch: pass it to `chaosgate stack up --runtime compose`, which starts that stack"
            )
        composed.attach()
        if profile_given and profile != composed.profile:
            raise ValidationError(
                f"--profile {profile}: the compose stack {composed.project} runs {composed.profile}; "
                f"`chaosgate stack up --runtime compose --profile {profile}` restarts its services with it"
            )
        err.print(f"using the compose stack {composed.project} (profile {composed.profile})")
        yield composed
        return
    if attaches(topology):
        remote = RemoteStack(topology, run_dir=run_dir)
        if switches:
            raise ValidationError(
                f"--switch: the stack at {topology.host} is not started here; set its switches where it runs"
            )
        if profile_given and topology.remote is not None:
            topology.check_profile(profile)
        if topology.remote is None:
            remote.profile = profile  # a compose stack runs what `chaosgate stack up` gave it
        err.print(f"using the running stack at {topology.host} (proxy API {remote.proxy_api_url})")
        remote.check()
        yield remote
        return
    progress = Progress(err)
    stack = LocalStack(topology, run_dir=run_dir, profile=profile, switches=switches, observer=progress)
    with progress.status:
        started = stack.up()
    if not started and (stack.profile, stack.switches) != (profile, dict(switches)):
        err.print(f"restarting services with profile {profile}")
        stack.restart_services(profile=profile, switches=switches)
    try:
        yield stack
    finally:
        if started and not keep_stack:
            with progress.status:
                stack.down()


def run_on_stack(
    stack: RunningStack,
    topology: Topology,
    scenarios: Sequence[Scenario],
    *,
    out: Path,
    time_scale: float,
    err: Console,
    gate: GatePolicy | None = None,
    locust_workers: int = 0,
    load_fraction: float | None = None,
    capacity_rps: float | None = None,
) -> RunResult:
    """One run of `scenarios` (each `gate.repeat` times in a row) on a running stack; its reports
    are written next to its result.json."""
    gate = gate or GatePolicy()
    harness = Harness(
        topology=topology,
        stack=stack,
        out_root=out,
        settings=RunSettings(
            time_scale=time_scale,
            probe_interval_s=topology.probes.interval,
            probe_timeout_s=topology.probes.timeout,
            locust_workers=locust_workers,
            load_fraction=load_fraction,
            capacity_rps=capacity_rps,
        ),
        observers=[ConsoleProgress(err)],
        gate=gate,
    )
    try:
        result = harness.run([s for s in scenarios for _ in range(gate.repeat)])
    except Interrupted as exc:
        if isinstance(exc.result, RunResult):  # what ran before the signal is reported too
            write_reports(exc.result, out / exc.result.run_id)
        raise
    write_reports(result, out / result.run_id)
    return result


@click.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every scenario in scenarios/.")
@click.option(
    "--profile",
    default="hardened",
    show_default=True,
    help="The target's hardening profile: one of chaos.yaml's `profiles`.",
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
    profile: str,
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
    paths = scenario_paths(topology, names, run_all)
    scenarios: list[Scenario] = load_scenarios(paths, topology)
    runtime = runtime_of(topology)
    if run_all:  # every scenario that applies here; the others are named
        keep = applicable(scenarios, runtime)
        skipped = [p.stem for i, p in enumerate(paths) if i not in keep]
        if skipped:
            click.echo(
                f"--all on the {runtime} runtime skips {', '.join(skipped)} (container faults)", err=True
            )
        scenarios, paths = [scenarios[i] for i in keep], [paths[i] for i in keep]
    check_injectors(scenarios, paths, runtime=runtime)
    plugin_for(topology)  # every feature probed, every writer provided: said before any stack is reached
    if min_score is None and not floor_items:  # the gate chaos.yaml ships, unless flags say otherwise
        min_score = topology.gate.min_score
        floors = gate_floors(topology)
    else:
        floors = parse_floors(floor_items)
    # Against a remote stack, --profile may only name what runs there (remote.profile).
    profile_given = click.get_current_context().get_parameter_source("profile") is not ParameterSource.DEFAULT
    if topology.remote is None or profile_given:
        topology.check_profile(profile)
    try:
        switches = parse_switches(switch_items)
    except ValueError as exc:
        raise ValidationError(f"--switch {exc}") from None

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
    if verdict == "FAIL":
        raise click.exceptions.Exit(1)
    if verdict == "INCONCLUSIVE":
        raise click.exceptions.Exit(EXIT_INCONCLUSIVE)


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
    if attaches(topology):
        stack: RunningStack = RemoteStack(topology, run_dir=run_dir)
        where = f"the stack at {topology.host}"
    else:
        local = LocalStack(topology, run_dir=run_dir, profile=profile)
        if not local.is_up():
            click.echo(
                f"stack: the local stack in {local.run_dir} is not running; a run would start it "
                f"(profile {profile}), so there is nothing to check yet"
            )
            return
        stack, where = local, f"the local stack in {local.run_dir}"
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
