"""What each fix buys: the same scenarios run under two profiles A and B (and, per switch, B minus one fix:
B is the profile with the fixes, e.g. `--profiles baseline,hardened`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from rich.console import Console

from chaosgate.api import run_on_stack, running_stack
from chaosgate.errors import ValidationError
from chaosgate.report.compare import Comparison, SwitchContribution, compare_runs
from chaosgate.report.switches import switches_for
from chaosgate.result import RunResult
from chaosgate.scenario.models import Scenario
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.remote import attaches
from chaosgate.topology import Topology


def parse_profiles(value: str, topology: Topology) -> tuple[str, str]:
    """`baseline,hardened` → the two profiles, A then B, each one of chaos.yaml's `profiles`."""
    names = tuple(p.strip() for p in value.split(",") if p.strip())
    valid = topology.profiles
    if len(set(names)) != 2 or len(names) != 2 or any(p not in valid for p in names):
        raise ValidationError(
            f"--profiles {value!r}: expected two different profiles of chaos.yaml ({', '.join(valid)}), "
            f"the one with the fixes second, e.g. {','.join(valid[:2]) if len(valid) > 1 else 'A,B'}",
            topology.location("profiles"),
        )
    return names[0], names[1]


def _readiness(result: RunResult, name: str) -> float | None:
    s = next((s for s in result.scenarios if s.name == name), None)
    return s.score.readiness if s is not None and s.score is not None else None


def compare_profiles(
    topology: Topology,
    scenarios: Sequence[Scenario],
    *,
    profiles: tuple[str, str],
    per_switch: bool,
    out: Path,
    time_scale: float,
    run_dir: Path | None,
    keep_stack: bool,
    err: Console,
) -> Comparison:
    """Run `scenarios` under each profile on one stack (services restarted in between) and compare."""
    if attaches(topology):
        raise ValidationError(
            "compare --profiles restarts the stack's services between runs, which needs the local runtime; "
            "against a remote or compose stack, `chaosgate run` once per profile and "
            "`chaosgate compare RUN_A RUN_B`"
        )
    with running_stack(
        topology, run_dir=run_dir, profile=profiles[0], switches={}, keep_stack=keep_stack, err=err
    ) as running:
        stack = cast(LocalStack, running)  # attaches() ruled the others out
        results: list[RunResult] = []
        for i, profile in enumerate(profiles):
            if i:
                err.print(f"restarting services with profile {profile}")
                stack.restart_services(profile=profile, switches={})
            results.append(run_on_stack(stack, topology, scenarios, out=out, time_scale=time_scale, err=err))
        a, b = results
        hardened = b  # the profile with the fixes: per-switch runs turn them off one at a time
        exercised = {s.name: switches_for(s, topology) for s in hardened.scenarios}
        contributions: list[SwitchContribution] = []
        if per_switch:
            # Bounded: one run per switch, of only the scenarios whose fault that switch acts on.
            for switch in dict.fromkeys(sw for names in exercised.values() for sw in names):
                subset = [sc for sc in scenarios if switch in exercised.get(sc.name, [])]
                err.print(f"{profiles[1]} with {switch}=off: {', '.join(sc.name for sc in subset)}")
                stack.restart_services(profile=profiles[1], switches={switch: False})
                without = run_on_stack(stack, topology, subset, out=out, time_scale=time_scale, err=err)
                contributions += [
                    SwitchContribution(
                        scenario=sc.name,
                        switch=switch,
                        with_switch=_readiness(hardened, sc.name),
                        without_switch=_readiness(without, sc.name),
                    )
                    for sc in subset
                ]
    cmp = compare_runs(a, b, label_a=f"{profiles[0]} ({a.run_id})", label_b=f"{profiles[1]} ({b.run_id})")
    rows = [dataclasses.replace(s, switches=exercised.get(s.name, [])) for s in cmp.scenarios]
    return dataclasses.replace(cmp, scenarios=rows, contributions=contributions)
