"""What reliability reports claim of each scenario beside what chaosgate measured, cell by cell, and the
claimed overall beside the measured one: one view for every report format."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chaosgate.claims import DIMENSIONS as CLAIM_DIMENSIONS
from chaosgate.claims import READINESS_TOLERANCE, measured_fail_behaviour
from chaosgate.report.details import NA, fmt_label
from chaosgate.report.view import Tone, fmt_score
from chaosgate.result import ClaimRecord, RunResult, ScenarioResult


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
        return fmt_label(sc.isolation_label)
    if dimension == "cascades":
        return fmt_label(sc.cascade_label)
    if dimension == "data_loss":
        return fmt_label(sc.data_label)
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
