"""The numbers every report shows, computed once from a RunResult so HTML, JUnit and Markdown agree."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from chaosgate.result import RunResult, ScenarioResult


def fmt_time(epoch: float | None) -> str:
    return "—" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def fmt_score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def fmt_recovery(s: ScenarioResult) -> str:
    if s.score is None:
        return "—"
    return "never" if s.recovery_s is None else f"{s.recovery_s:.1f}s"


@dataclass(frozen=True)
class SummaryRow:
    """One line of the reports' table; `ok` is False for aborted/error scenarios (no score)."""

    name: str
    title: str
    status: str
    ok: bool
    isolation: str
    cascades: str
    data_loss: str
    behaviour: str
    behaviour_mismatch: bool
    recovery: str
    readiness: str
    readiness_value: float | None
    reasons: list[str] = field(default_factory=list)


def scenario_reasons(result: RunResult, name: str) -> list[str]:
    """The gate's reasons that concern one scenario (the gate writes them as `name: reason`)."""
    if result.gate is None:
        return []
    prefix = f"{name}: "
    return [r.removeprefix(prefix) for r in result.gate.reasons if r.startswith(prefix)]


def run_reasons(result: RunResult) -> list[str]:
    """The gate's reasons that concern no single scenario (the overall minimum)."""
    if result.gate is None:
        return []
    names = {s.name for s in result.scenarios}
    return [r for r in result.gate.reasons if r.partition(": ")[0] not in names]


def summary_row(result: RunResult, s: ScenarioResult) -> SummaryRow:
    reasons = scenario_reasons(result, s.name)
    if s.score is None:
        return SummaryRow(
            name=s.name,
            title=s.title,
            status=s.status,
            ok=False,
            isolation="—",
            cascades="—",
            data_loss="—",
            behaviour=f"{s.status}: {s.message}",
            behaviour_mismatch=False,
            recovery="—",
            readiness="—",
            readiness_value=None,
            reasons=reasons,
        )
    sc = s.score
    mismatch = any(sc.expected.get(f) not in (None, b) for f, b in sc.behaviour.items())
    behaviour = ", ".join(
        f"{f} {b.value}" + ("" if sc.expected.get(f) in (None, b) else " ✗") for f, b in sc.behaviour.items()
    )
    return SummaryRow(
        name=s.name,
        title=s.title,
        status=s.status,
        ok=True,
        isolation=f"{sc.isolation_label.value} {sc.isolation:.0%}",
        cascades=sc.cascade_label.value,
        data_loss=sc.data_label.value,
        behaviour=behaviour or "—",
        behaviour_mismatch=mismatch,
        recovery=fmt_recovery(s),
        readiness=f"{sc.readiness:.1f}%",
        readiness_value=sc.readiness,
        reasons=reasons,
    )


def summary_rows(result: RunResult) -> list[SummaryRow]:
    return [summary_row(result, s) for s in result.scenarios]


def verdict(result: RunResult) -> str:
    if result.gate is None:
        return "UNFINISHED"
    return "PASS" if result.gate.passed else "FAIL"
