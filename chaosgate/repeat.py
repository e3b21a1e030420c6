"""`chaosgate run --repeat N`: mean and spread per dimension over repetitions, and the run the gate judges."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from enum import StrEnum

from rich.table import Table

from chaosgate.result import RunResult, ScenarioRepeat, ScenarioResult, ScenarioStatus, Spread


class GateOn(StrEnum):
    """Which repetition stands for a scenario at the gate. A quantile q picks the run that a share q
    of the repetitions scores at least as well as (nearest rank): p90 is "9 runs in 10 reach this"."""

    WORST = "worst"
    P50 = "p50"
    P90 = "p90"

    @property
    def quantile(self) -> float:
        return {GateOn.WORST: 1.0, GateOn.P50: 0.5, GateOn.P90: 0.9}[self]


DIMENSIONS = ("readiness", "isolation", "cascaded_share", "data", "behaviour_match", "recovery")


def _badness(run: ScenarioResult) -> tuple[int, float]:
    """Sort key, best first: completed runs by readiness; an aborted or failed run is worse than any."""
    if run.status is not ScenarioStatus.COMPLETED or run.score is None:
        return (1, 0.0)
    return (0, -run.score.readiness)


def gated_index(runs: Sequence[ScenarioResult], gate_on: GateOn) -> int:
    """Index into `runs` of the repetition the gate judges."""
    ranked = sorted(range(len(runs)), key=lambda i: (_badness(runs[i]), i))
    rank = max(1, math.ceil(gate_on.quantile * len(runs)))
    return ranked[rank - 1]


def spread(values: Sequence[float]) -> Spread:
    return Spread(
        mean=round(statistics.fmean(values), 3),
        min=round(min(values), 3),
        max=round(max(values), 3),
        stdev=round(statistics.pstdev(values), 3),
    )


def summarise(runs: Sequence[ScenarioResult], gate_on: GateOn) -> ScenarioRepeat:
    scored = [r.score for r in runs if r.status is ScenarioStatus.COMPLETED and r.score is not None]
    dimensions = {}
    for d in DIMENSIONS:  # a dimension that was n/a in a run is left out of its spread
        values = [v for v in (getattr(s, d) for s in scored) if v is not None]
        if values:
            dimensions[d] = spread(values)
    recoveries = [r.recovery_s for r in runs if r.score is not None and r.recovery_s is not None]
    if recoveries:
        dimensions["recovery_s"] = spread(recoveries)
    return ScenarioRepeat(
        runs=len(runs), completed=len(scored), gated_run=gated_index(runs, gate_on), dimensions=dimensions
    )


def by_scenario(scenarios: Sequence[ScenarioResult]) -> dict[str, list[ScenarioResult]]:
    groups: dict[str, list[ScenarioResult]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.name, []).append(scenario)
    return groups


def repeat_table(result: RunResult) -> Table:
    """Mean, min..max and stdev of readiness per scenario, and which repetition the gate judged."""
    assert result.repeat is not None
    table = Table(title=f"{result.repeat.repeat} repetitions, gated on {result.repeat.gate_on}")
    for column in ("scenario", "completed", "readiness mean", "min..max", "stdev", "gated run"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, rep in result.repeat.scenarios.items():
        r = rep.dimensions.get("readiness")
        table.add_row(
            name,
            f"{rep.completed}/{rep.runs}",
            f"{r.mean:.1f}" if r else "—",
            f"{r.min:.1f}..{r.max:.1f}" if r else "—",
            f"{r.stdev:.1f}" if r else "—",
            f"#{rep.gated_run + 1}",
        )
    return table
