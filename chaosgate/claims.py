"""A reliability report's claims (its scenario table), loaded from YAML and set beside what was measured.

A claims file names its source report, the profiles its rows describe, its overall figure, any
projections for other profiles, and one row per scenario (isolation, cascades, data loss, fail
behaviour, readiness). `Claims.compare` turns a row and a scored scenario into a `ClaimRecord` whose
`agreement` says, per dimension, whether the measurement bears the claim out.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaosgate.errors import ValidationError
from chaosgate.result import ClaimRecord, ScenarioResult, ScoreRecord
from chaosgate.scoring import FailBehaviour, Label, ProbeOutcome
from chaosgate.yamlio import load_yaml, validate

# A claimed readiness agrees with the measured one within this many points.
READINESS_TOLERANCE = 10.0
# Ties between fail behaviours of equal share go to the worse one.
_WORST_LAST = (
    FailBehaviour.FAIL_OPEN,
    FailBehaviour.DEGRADED,
    FailBehaviour.FAIL_CLOSED,
    FailBehaviour.UNCLEAN,
)
# The dimensions a claim row may state, as ClaimRecord and its `agreement` name them.
DIMENSIONS = ("isolation", "cascades", "data_loss", "fail_behaviour", "readiness")
_OUTCOMES = {o.value: o for o in ProbeOutcome}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportRef(_Model):
    """A report the claims come from, as a reader would look it up."""

    title: str = Field(min_length=1)
    file: str = Field(min_length=1)
    date: datetime.date | None = None
    headline: str = ""  # the report's own headline figure, in its words

    def describe(self) -> str:
        when = f", {self.date.isoformat()}" if self.date else ""
        return f"{self.title} ({self.file}{when})"


class Described(_Model):
    """A profile (a system under test) that the scenario rows describe, and why."""

    profile: str = Field(min_length=1)
    why: str = ""


class Projection(_Model):
    """An overall figure a report projects for another profile, without per-scenario rows."""

    profile: str = Field(min_length=1)
    overall: float = Field(ge=0, le=100)
    source: str = ""  # which report projects it
    why: str = ""


class ScenarioClaim(_Model):
    """One row of the report's table; a dimension the report does not state is left out."""

    name: str = Field(min_length=1)  # the report's own name for the scenario
    isolation: Label | None = None
    cascades: Label | None = None
    data_loss: Label | None = None
    fail_behaviour: FailBehaviour | None = None
    readiness: float | None = Field(default=None, ge=0, le=100)

    @field_validator("isolation", "cascades", "data_loss", mode="before")
    @classmethod
    def _a_claimed_label(cls, value: object) -> object:
        if isinstance(value, bool):
            # PyYAML reads a bare YES/NO as a boolean; the claim was a word.
            word = "YES" if value else "NO"
            raise ValueError(f"YAML reads a bare {word} as a boolean: quote it, '{word}'")
        if value == Label.NA.value:
            raise ValueError("a claim states YES, PARTIAL or NO; leave the key out when the report does not")
        return value


class Claims(_Model):
    """A claims file: the source report, the profiles it describes and its scenario rows."""

    source: ReportRef
    reports: list[ReportRef] = Field(default_factory=list)  # further reports the figures come from
    describes: list[Described] = Field(min_length=1)
    overall: float | None = Field(default=None, ge=0, le=100)
    projections: list[Projection] = Field(default_factory=list)
    scenarios: dict[str, ScenarioClaim] = Field(min_length=1)  # chaosgate scenario name -> its row

    @model_validator(mode="after")
    def _one_role_per_profile(self) -> Claims:
        described = [d.profile for d in self.describes]
        projected = [p.profile for p in self.projections]
        names = [*described, *projected]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"profile {', '.join(repeated)} is listed more than once: a profile is either "
                "described by the rows (`describes`) or projected (`projections`), once"
            )
        return self

    def applies_to(self, profile: str) -> bool:
        """Whether the scenario rows describe a run on `profile`."""
        return any(d.profile == profile for d in self.describes)

    def overall_for(self, profile: str) -> float | None:
        """The overall readiness claimed for `profile`: the rows' overall, or a projection, or None."""
        if self.applies_to(profile):
            return self.overall
        return next((p.overall for p in self.projections if p.profile == profile), None)

    def describe(self) -> str:
        """The source as one line, e.g. for RunResult.claims_source."""
        return self.source.describe()

    def compare(self, scenario: ScenarioResult) -> ClaimRecord | None:
        """The row claimed for `scenario` beside its score; None when the report has no such row.

        `agreement` holds only the dimensions both the row states and the run measured: a scenario
        without a score, or a dimension measured n/a, is not evidence either way.
        """
        row = self.scenarios.get(scenario.name)
        if row is None:
            return None
        agreement = {} if scenario.score is None else _agreement(row, scenario.score)
        return ClaimRecord(
            source=self.describe(),
            name=row.name,
            isolation=row.isolation.value if row.isolation else None,
            cascades=row.cascades.value if row.cascades else None,
            data_loss=row.data_loss.value if row.data_loss else None,
            fail_behaviour=row.fail_behaviour.value if row.fail_behaviour else None,
            readiness=row.readiness,
            agreement=agreement,
        )


def measured_fail_behaviour(score: ScoreRecord) -> FailBehaviour | None:
    """The dominant fail behaviour over all broken features, by time share of the active window.

    Each outcome's share is summed over the broken features, so one feature that hung throughout
    weighs as much as one that rejected throughout; a result without shares counts each feature's
    dominant behaviour once. Equal weights go to the worse behaviour.
    """
    totals: dict[FailBehaviour, float] = defaultdict(float)
    for shares in score.behaviour_shares.values():
        for outcome, share in shares.items():
            if outcome in _OUTCOMES:
                totals[FailBehaviour.of(_OUTCOMES[outcome])] += share
    if not totals:
        for behaviour in score.behaviour.values():
            totals[behaviour] += 1.0
    if not totals:
        return None
    return max(totals, key=lambda b: (totals[b], _WORST_LAST.index(b)))


def _agreement(row: ScenarioClaim, score: ScoreRecord) -> dict[str, bool]:
    measured: dict[str, Label | FailBehaviour | None] = {
        "isolation": score.isolation_label,
        "cascades": score.cascade_label,
        "data_loss": score.data_label,
        "fail_behaviour": measured_fail_behaviour(score),
    }
    agreement: dict[str, bool] = {}
    for dimension, found in measured.items():
        claimed = getattr(row, dimension)
        if claimed is None or found is None or found is Label.NA:
            continue
        agreement[dimension] = claimed == found
    if row.readiness is not None:
        agreement["readiness"] = abs(row.readiness - score.readiness) <= READINESS_TOLERANCE
    return agreement


def load_claims(path: Path | str) -> Claims:
    """Read a claims file; every problem is a ValidationError naming the file, line and key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ValidationError(
            "a claims file is a mapping with keys source, describes, scenarios (and optionally "
            "reports, overall, projections)",
            doc.location(),
        )
    return validate(doc, Claims)
