"""The library API under every entry point (the CLI, the pytest plugin, `compare --profiles`, the
benches): plan a run from a config and scenario names, put a stack under it, run the plan on it and
write its reports. Nothing here prints a verdict or exits: that is the callers' business."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from chaosgate.errors import Location, ValidationError
from chaosgate.gate import GatePolicy
from chaosgate.harness import Harness
from chaosgate.injection import EVERY_RUNTIME, Runtime, runtime_of
from chaosgate.progress import ConsoleProgress, StackProgress
from chaosgate.registry import default_injectors
from chaosgate.report.writer import ReportWriter
from chaosgate.result import RunResult
from chaosgate.runner import RunSettings
from chaosgate.scenario.loader import load_scenarios
from chaosgate.scenario.models import Scenario
from chaosgate.stack.compose_runtime import ComposeStack
from chaosgate.stack.events import Observer
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.remote import RemoteStack
from chaosgate.stack.running import RunningStack
from chaosgate.topology import Topology


@dataclass(frozen=True)
class Plan:
    """What a run will do, validated before anything is touched: the scenarios (each with the file
    it came from) that this runtime can inject, and the ones `--all` left out."""

    topology: Topology
    scenarios: list[Scenario]
    paths: list[Path]
    skipped: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.topology)


def plan_run(topology: Topology, names: Sequence[str], *, run_all: bool = False) -> Plan:
    """Scenario names (or every file in scenarios/ with `run_all`) loaded and checked against
    `topology`: with `run_all`, the scenarios this runtime cannot inject are skipped and named;
    a named one it cannot inject is an error naming its file and key."""
    paths = scenario_paths(topology, tuple(names), run_all)
    scenarios = load_scenarios(paths, topology)
    runtime = runtime_of(topology)
    skipped: list[str] = []
    if run_all:
        keep = applicable(scenarios, runtime)
        skipped = [p.stem for i, p in enumerate(paths) if i not in keep]
        scenarios, paths = [scenarios[i] for i in keep], [paths[i] for i in keep]
    check_injectors(scenarios, paths, runtime=runtime)
    return Plan(topology, scenarios, paths, skipped)


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


def stack_for(
    topology: Topology,
    *,
    run_dir: Path | None,
    profile: str,
    switches: Mapping[str, bool] | None = None,
    observer: Observer | None = None,
) -> ComposeStack | RemoteStack | LocalStack:
    """The one place the runtime is chosen: a compose stack on this machine, a stack running
    elsewhere (chaos.yaml `remote:`), or the local runtime (started by chaosgate)."""
    if topology.remote is None and topology.runtime == "compose":
        return ComposeStack(topology, run_dir=run_dir)
    if topology.remote is not None:
        return RemoteStack(topology, run_dir=run_dir)
    return LocalStack(topology, run_dir=run_dir, profile=profile, switches=switches or {}, observer=observer)


@contextlib.contextmanager
def running_stack(
    topology: Topology,
    *,
    run_dir: Path | None,
    profile: str,
    switches: Mapping[str, bool],
    keep_stack: bool = False,
    err: Console | None = None,
    profile_given: bool = True,
) -> Iterator[RunningStack]:
    """The stack up with `profile`/`switches` (started or reused); stopped afterwards if this started it.

    With chaos.yaml's `remote:` (or the compose runtime) nothing is started: the stack there is checked
    and used as it runs, and `profile`/`switches` must not ask for something else. Progress goes to
    `err` (default: stderr)."""
    err = err or Console(stderr=True)
    progress = StackProgress(err)
    stack = stack_for(topology, run_dir=run_dir, profile=profile, switches=switches, observer=progress)
    if isinstance(stack, ComposeStack):
        _attach_compose(stack, profile=profile, switches=switches, profile_given=profile_given, err=err)
        yield stack
        return
    if isinstance(stack, RemoteStack):
        _attach_remote(stack, profile=profile, switches=switches, profile_given=profile_given, err=err)
        yield stack
        return
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


def _attach_compose(
    composed: ComposeStack, *, profile: str, switches: Mapping[str, bool], profile_given: bool, err: Console
) -> None:
    """A compose stack is used as `chaosgate stack up --runtime compose` started it."""
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


def _attach_remote(
    remote: RemoteStack, *, profile: str, switches: Mapping[str, bool], profile_given: bool, err: Console
) -> None:
    """A stack running elsewhere is checked and used as it runs."""
    topology = remote.topology
    if switches:
        raise ValidationError(
            f"--switch: the stack at {topology.host} is not started here; set its switches where it runs"
        )
    if profile_given:
        topology.check_profile(profile)
    err.print(f"using the running stack at {topology.host} (proxy API {remote.proxy_api_url})")
    remote.check()


def run_on_stack(
    stack: RunningStack,
    topology: Topology,
    scenarios: Sequence[Scenario],
    *,
    out: Path,
    time_scale: float = 1.0,
    err: Console | None = None,
    gate: GatePolicy | None = None,
    locust_workers: int = 0,
    load_fraction: float | None = None,
    capacity_rps: float | None = None,
) -> RunResult:
    """One run of `scenarios` (each `gate.repeat` times in a row) on a running stack; its reports
    are written next to its result.json when it finishes, also when a signal cuts it short.
    Progress goes to `err` (default: stderr)."""
    gate = gate or GatePolicy()
    err = err or Console(stderr=True)
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
        observers=[ConsoleProgress(err), ReportWriter(out)],
        gate=gate,
    )
    return harness.run([s for s in scenarios for _ in range(gate.repeat)])
