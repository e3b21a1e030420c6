"""The numbers every report shows, computed once from a RunResult so HTML, JUnit, Markdown and the
terminal agree: labels with their tone (n/a is never a score), the load level, and claims beside
measurements."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from chaosgate.claims import DIMENSIONS as CLAIM_DIMENSIONS
from chaosgate.claims import READINESS_TOLERANCE, measured_fail_behaviour
from chaosgate.result import ClaimRecord, LoadRecord, RunResult, ScenarioResult, ScoreRecord
from chaosgate.scoring import Label

NA = "n/a"


class Tone(StrEnum):
    """How a shown value reads to a user; HTML classes `tone-<value>`, terminal colours from it."""

    GOOD = "good"
    WARN = "warn"
    BAD = "bad"
    NA = "na"  # not measured: neutral, neither good nor bad


# Isolation YES is what we want; a cascade or data loss YES is the failure itself.
_WANTED_YES = {Label.YES: Tone.GOOD, Label.PARTIAL: Tone.WARN, Label.NO: Tone.BAD, Label.NA: Tone.NA}
_FEARED_YES = {Label.YES: Tone.BAD, Label.PARTIAL: Tone.WARN, Label.NO: Tone.GOOD, Label.NA: Tone.NA}


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
    if s.score is None:
        return "—"
    return "never" if s.recovery_s is None else f"{s.recovery_s:.1f}s"


def fmt_isolation(sc: ScoreRecord) -> str:
    if sc.isolation is None or sc.isolation_label is Label.NA:
        return NA
    return f"{sc.isolation_label.value} {sc.isolation:.0%}"


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
        cascades=sc.cascade_label.value,
        data_loss=sc.data_label.value,
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
    """Every dimension in components order; a None value is n/a and carries no weight."""
    return [
        Component(
            name=name,
            value=fmt_unit(value),
            weight="not weighed" if value is None else f"×{sc.weights[name]:g}" if name in sc.weights else "",
            tone=share_tone(value),
        )
        for name, value in sc.components.items()
    ]


def verdict(result: RunResult) -> str:
    if result.gate is None:
        return "UNFINISHED"
    return "PASS" if result.gate.passed else "FAIL"


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


# ---- claims beside measurements -----------------------------------------------------------------


class Agreement(StrEnum):
    AGREES = "agrees"
    DISAGREES = "disagrees"
    NOT_MEASURED = "not measured"
    NOT_CLAIMED = "not claimed"


@dataclass(frozen=True)
class ClaimCell:
    claimed: str
    measured: str
    agreement: Agreement

    @property
    def text(self) -> str:
        return f"claim {self.claimed}, measured {self.measured}: {self.agreement.value}"

    @property
    def tone(self) -> Tone:
        return {Agreement.AGREES: Tone.GOOD, Agreement.DISAGREES: Tone.BAD}.get(self.agreement, Tone.NA)


@dataclass(frozen=True)
class ClaimRow:
    scenario: str
    name: str  # the report's name for it
    cells: dict[str, ClaimCell]  # claims.DIMENSIONS -> cell

    @property
    def agreed(self) -> int:
        return sum(c.agreement is Agreement.AGREES for c in self.cells.values())

    @property
    def compared(self) -> int:
        return sum(c.agreement in (Agreement.AGREES, Agreement.DISAGREES) for c in self.cells.values())


@dataclass(frozen=True)
class ClaimsView:
    source: str
    rows: list[ClaimRow]
    overall: ClaimCell  # the unweighted mean of the rows' readiness, claimed vs measured
    overall_note: str
    tolerance: float = READINESS_TOLERANCE  # readiness agrees within this many points

    @property
    def agreed(self) -> int:
        return sum(r.agreed for r in self.rows)

    @property
    def compared(self) -> int:
        return sum(r.compared for r in self.rows)


CLAIM_HEADINGS = {
    "isolation": "isolation",
    "cascades": "cascades",
    "data_loss": "data loss",
    "fail_behaviour": "fail behaviour",
    "readiness": "readiness",
}


def _measured(s: ScenarioResult, dimension: str) -> str:
    sc = s.score
    if sc is None:
        return f"— ({s.status})"
    if dimension == "isolation":
        return sc.isolation_label.value
    if dimension == "cascades":
        return sc.cascade_label.value
    if dimension == "data_loss":
        return sc.data_label.value
    if dimension == "fail_behaviour":
        found = measured_fail_behaviour(sc)
        return NA if found is None else found.value
    return f"{sc.readiness:.1f}%"


def _claimed(claim: ClaimRecord, dimension: str) -> str | None:
    if dimension == "readiness":
        return None if claim.readiness is None else f"{claim.readiness:g}%"
    value: str | None = getattr(claim, dimension)
    return value


def claim_row(s: ScenarioResult, claim: ClaimRecord) -> ClaimRow:
    cells = {}
    for dimension in CLAIM_DIMENSIONS:
        claimed = _claimed(claim, dimension)
        if dimension in claim.agreement:
            agreement = Agreement.AGREES if claim.agreement[dimension] else Agreement.DISAGREES
        else:
            agreement = Agreement.NOT_CLAIMED if claimed is None else Agreement.NOT_MEASURED
        cells[dimension] = ClaimCell(claimed or "—", _measured(s, dimension), agreement)
    return ClaimRow(scenario=s.name, name=claim.name, cells=cells)


def _claimed_overall(
    result: RunResult, claimed: list[tuple[ScenarioResult, ClaimRecord]]
) -> tuple[ClaimCell, str]:
    """The claimed rows' mean readiness beside the measured mean over the same scored scenarios.

    A report's overall commonly counts its rows alike (3.6 of 6 scenarios = 60%); chaosgate's own
    overall is weighted and spans every scenario of the run, so both are said.
    """
    stated = [(s, c.readiness) for s, c in claimed if c.readiness is not None]
    pairs = [(claim, s.score.readiness) for s, claim in stated if s.score is not None]
    run_overall = fmt_score(result.overall) + ("%" if result.overall is not None else "")
    tail = f"the run's own overall (weighted, all {len(result.scenarios)} scenarios) is {run_overall}"
    if not stated:
        return ClaimCell("—", run_overall, Agreement.NOT_CLAIMED), tail
    if not pairs:
        claim_mean = sum(r for _, r in stated) / len(stated)
        return ClaimCell(f"{claim_mean:.1f}%", "—", Agreement.NOT_MEASURED), tail
    claim_mean = sum(c for c, _ in pairs) / len(pairs)
    measured_mean = sum(m for _, m in pairs) / len(pairs)
    close = abs(claim_mean - measured_mean) <= READINESS_TOLERANCE
    cell = ClaimCell(
        f"{claim_mean:.1f}%",
        f"{measured_mean:.1f}%",
        Agreement.AGREES if close else Agreement.DISAGREES,
    )
    over = (
        f"the {len(pairs)} claimed scenarios"
        if len(pairs) == len(stated)
        else f"the {len(pairs)} of {len(stated)} claimed scenarios that have a score"
    )
    return cell, f"unweighted mean over {over}; {tail}"


def claims_view(result: RunResult) -> ClaimsView | None:
    """The claims table, when the run carries claims (the harness adds them on a profile they describe)."""
    claimed = [(s, s.claim) for s in result.scenarios if s.claim is not None]
    if not claimed:
        return None
    rows = [claim_row(s, c) for s, c in claimed]
    overall, note = _claimed_overall(result, claimed)
    source = result.claims_source or claimed[0][1].source
    return ClaimsView(source=source, rows=rows, overall=overall, overall_note=note)
