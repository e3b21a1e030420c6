"""The numbers every report shows, computed once from a RunResult so HTML, JUnit, Markdown and the
terminal agree: labels with their tone (n/a is never a score, inconclusive is never a pass nor a
failure), each scenario's row, the gate's reasons and the load level (claims: report/claims_table.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from chaosgate.report.details import (
    INCONCLUSIVE,
    NA,
    cascade_cell,
    data_cell,
    explain_reason,
    fmt_isolation,
    survive_cell,
)
from chaosgate.result import LoadRecord, RunResult, ScenarioResult, ScoreRecord
from chaosgate.scoring import Label


class Tone(StrEnum):
    """How a shown value reads to a user; HTML classes `tone-<value>`, terminal colours from it."""

    GOOD = "good"
    WARN = "warn"
    BAD = "bad"
    NA = "na"  # not measured: neutral, neither good nor bad
    VOID = "void"  # judged on a saturated machine: neither good nor bad, and said so


# Isolation YES is what we want; a cascade or data loss YES is the failure itself.
_WANTED_YES = {
    Label.YES: Tone.GOOD,
    Label.PARTIAL: Tone.WARN,
    Label.NO: Tone.BAD,
    Label.NA: Tone.NA,
    Label.INCONCLUSIVE: Tone.VOID,
}
_FEARED_YES = {**_WANTED_YES, Label.YES: Tone.BAD, Label.NO: Tone.GOOD}


def isolation_tone(label: Label) -> Tone:
    return _WANTED_YES[label]


def harm_tone(label: Label) -> Tone:
    """Cascades and data loss: YES is bad, PARTIAL amber, NO good, n/a neutral."""
    return _FEARED_YES[label]


def share_tone(value: float | None) -> Tone:
    """A 0..1 dimension score."""
    if value is None:
        return Tone.NA
    return Tone.GOOD if value >= 0.99 else Tone.WARN if value >= 0.5 else Tone.BAD


def fmt_time(epoch: float | None) -> str:
    return "—" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def fmt_score(value: float | None) -> str:
    return NA if value is None else f"{value:.1f}"


def fmt_share(value: float | None) -> str:
    """A 0..1 share as a percentage; n/a when it was not measured (never 100%)."""
    return NA if value is None else f"{value:.0%}"


def fmt_unit(value: float | None) -> str:
    """A 0..1 dimension score as it is weighed; n/a when it was not measured."""
    return NA if value is None else f"{value:.2f}"


def fmt_recovery(s: ScenarioResult) -> str:
    """Seconds until every feature was back; `never` when the timeout ended first, and who was restarted."""
    if s.score is None:
        return "—"
    if s.recovery_s is not None:
        return f"{s.recovery_s:.1f}s"
    if s.score.recovery is None:
        return "inconclusive (machine saturated)"
    return f"never (restarted {', '.join(s.restarted)})" if s.restarted else "never"


@dataclass(frozen=True)
class SummaryRow:
    """One line of the reports' table; `ok` is False for aborted/error scenarios (no score)."""

    name: str
    title: str
    status: str
    ok: bool
    isolation: str
    cascades: str  # the label, then what cascaded: `YES: auth.login, chat.history`
    data_loss: str  # the label, then each writer's lost / acknowledged: `YES: chat.messages 12/40 lost`
    behaviour: str  # each broken feature's dominant outcome (shown, not scored)
    behaviour_mismatch: bool
    recovery: str
    readiness: str
    readiness_value: float | None
    reasons: list[str] = field(default_factory=list)
    behaviour_match: str = NA  # the scored fail-behaviour dimension, by time share
    isolation_tone: Tone = Tone.NA
    cascades_tone: Tone = Tone.NA
    data_tone: Tone = Tone.NA
    behaviour_tone: Tone = Tone.NA
    load: str = "—"  # achieved rps / in flight per phase
    survive: str = "—"  # must-survive features / broken features: what containment could measure


def scenario_reasons(result: RunResult, name: str) -> list[str]:
    """The gate's reasons that concern one scenario (the gate writes them as `name: reason`), each with
    the counts behind it (which writer lost how many, what cascaded)."""
    if result.gate is None:
        return []
    prefix = f"{name}: "
    s = next((s for s in result.scenarios if s.name == name), None)
    return [explain_reason(s, r.removeprefix(prefix)) for r in result.gate.reasons if r.startswith(prefix)]


def gate_reasons(result: RunResult) -> list[str]:
    """Every reason of the gate, in its order, a scenario's with the counts behind it."""
    if result.gate is None:
        return []
    by_name = {s.name: s for s in result.scenarios}
    explained = []
    for reason in result.gate.reasons:
        name, sep, rest = reason.partition(": ")
        s = by_name.get(name) if sep else None
        explained.append(f"{name}: {explain_reason(s, rest)}" if s is not None else reason)
    return explained


def scenario_inconclusive(result: RunResult, name: str) -> list[str]:
    """What the gate could not stand on in one scenario (judged on a saturated machine)."""
    if result.gate is None:
        return []
    prefix = f"{name}: "
    return [r.removeprefix(prefix) for r in result.gate.inconclusive if r.startswith(prefix)]


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
            survive="—",
            data_loss="—",
            behaviour=f"{s.status}: {s.message}",
            behaviour_mismatch=False,
            recovery="—",
            readiness="—",
            readiness_value=None,
            reasons=reasons,
            behaviour_match="—",
            load=phase_load(s.load),
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
        isolation=fmt_isolation(sc),
        cascades=cascade_cell(sc),
        data_loss=data_cell(s),
        survive=survive_cell(sc),
        behaviour=behaviour or "—",
        behaviour_mismatch=mismatch,
        recovery=fmt_recovery(s),
        readiness=f"{sc.readiness:.1f}%",
        readiness_value=sc.readiness,
        reasons=reasons,
        behaviour_match=fmt_share(sc.behaviour_match),
        isolation_tone=isolation_tone(sc.isolation_label),
        cascades_tone=harm_tone(sc.cascade_label),
        data_tone=harm_tone(sc.data_label),
        behaviour_tone=share_tone(sc.behaviour_match),
        load=phase_load(s.load),
    )


def summary_rows(result: RunResult) -> list[SummaryRow]:
    return [summary_row(result, s) for s in result.scenarios]


@dataclass(frozen=True)
class Component:
    """One scored dimension of a scenario as weighed: its 0..1 value and its weight, or n/a."""

    name: str
    value: str
    weight: str
    tone: Tone


def components(sc: ScoreRecord) -> list[Component]:
    """Every dimension in components order; a None value is n/a (or inconclusive) and carries no weight."""
    labels = {"isolation": sc.isolation_label, "cascade": sc.cascade_label, "data": sc.data_label}
    shown = []
    for name, value in sc.components.items():
        void = value is None and labels.get(name) is Label.INCONCLUSIVE
        weight = f"×{sc.weights[name]:g}" if name in sc.weights else ""
        shown.append(
            Component(
                name=name,
                value=INCONCLUSIVE if void else fmt_unit(value),
                weight="not weighed" if value is None else weight,
                tone=Tone.VOID if void else share_tone(value),
            )
        )
    return shown


def verdict(result: RunResult) -> str:
    """PASS, FAIL, INCONCLUSIVE (nothing failed, but a verdict stood on a saturated machine), UNFINISHED."""
    return "UNFINISHED" if result.gate is None else result.gate.verdict


# ---- load level -------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = ".0f") -> str:
    return "—" if value is None else format(value, fmt)


def phase_load(load: LoadRecord | None) -> str:
    """Achieved rps / requests in flight of each phase, in order: `205/12 → 180/128 → 204/12`."""
    if load is None or not load.phases:
        return "—"
    return " → ".join(f"{p.rps:.0f}/{_num(p.in_flight)}" for p in load.phases)


def _steady_load(result: RunResult) -> LoadRecord | None:
    # Every scenario runs under the same steady load: the first one that ran load says what it was.
    return next((s.load for s in result.scenarios if s.load is not None and s.load.phases), None)


def load_level(result: RunResult) -> list[str]:
    """The run's load in a few short phrases: capacity, the load level, the harness's own CPU."""
    cap = result.capacity
    load = _steady_load(result)
    parts: list[str] = []
    if cap is not None:
        how = "reused, measured" if cap.reused else "measured"
        parts.append(f"capacity {cap.rps:.0f} rps ({how} {fmt_time(cap.measured_at)}; {cap.bound})")
    elif load is not None and load.capacity_rps is not None:
        parts.append(f"capacity {load.capacity_rps:.0f} rps")
    fraction = cap.fraction if cap is not None else load.fraction if load is not None else None
    target = cap.target_rps if cap is not None else load.target_rps if load is not None else None
    if load is not None or target is not None:
        level = f"load {target:.0f} rps" if target is not None else "load"
        if fraction is not None:
            level += f" ({fraction:.0%} of capacity)"
        if load is not None:
            level += f", {load.mode}, {load.users} users"
            if load.max_in_flight is not None:
                level += f", ≤ {load.max_in_flight} in flight"
        parts.append(level)
    cpu = result.harness_cpu_share
    if cpu is None and load is not None:
        cpu = load.harness_cpu_share
    if cpu is not None:
        parts.append(f"harness CPU {cpu:.0%} of the machine")
    return parts
