"""Scoring: one scenario's observations → the reports' row and a readiness score (ARCHITECTURE.md)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from chaosgate.scenario.models import Outcome


class ProbeOutcome(StrEnum):
    """How one probe sample went."""

    SERVED = "served"  # a normal 2xx
    DEGRADED = "degraded"  # a 2xx carrying the service's degraded marker
    REJECTED = "rejected"  # a clean refusal (429/503 with an error body) within the probe timeout
    ERROR = "error"  # 500, reset, malformed
    HANG = "hang"  # no answer within the probe timeout

    @property
    def ok(self) -> bool:
        return self in (ProbeOutcome.SERVED, ProbeOutcome.DEGRADED)


class FailBehaviour(StrEnum):
    """A feature's dominant outcome while its dependency is broken."""

    FAIL_OPEN = "FAIL-OPEN"
    DEGRADED = "DEGRADED"
    FAIL_CLOSED = "FAIL-CLOSED"
    UNCLEAN = "UNCLEAN"

    @classmethod
    def of(cls, outcome: ProbeOutcome) -> FailBehaviour:
        return {
            ProbeOutcome.SERVED: cls.FAIL_OPEN,
            ProbeOutcome.DEGRADED: cls.DEGRADED,
            ProbeOutcome.REJECTED: cls.FAIL_CLOSED,
        }.get(outcome, cls.UNCLEAN)

    @classmethod
    def expected(cls, outcome: Outcome) -> FailBehaviour:
        return cls.of(ProbeOutcome(outcome.value))


class Label(StrEnum):
    YES = "YES"
    PARTIAL = "PARTIAL"
    NO = "NO"


class Health(StrEnum):
    """A component's worst state during the fault (and after the recovery timeout)."""

    OK = "ok"
    DEGRADED = "degraded"  # answered, but slowly or not ready
    DOWN = "down"  # liveness hang/error, process died, or not back after the recovery timeout


@dataclass(frozen=True)
class Sample:
    outcome: ProbeOutcome
    latency_s: float


@dataclass(frozen=True)
class FeatureStats:
    """Success share and p95 latency of a set of samples."""

    success: float
    p95_s: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> FeatureStats:
        if not samples:
            return cls(success=0.0, p95_s=0.0, count=0)
        ok = sum(1 for s in samples if s.outcome.ok)
        return cls(
            success=ok / len(samples),
            p95_s=percentile([s.latency_s for s in samples], 95),
            count=len(samples),
        )

    def healthy_against(self, baseline: FeatureStats) -> bool:
        """The isolation rule: success >= 99% of baseline and p95 <= max(3x baseline, baseline + 250 ms)."""
        if self.count == 0:
            return False
        limit = max(3 * baseline.p95_s, baseline.p95_s + 0.250)
        return self.success >= 0.99 * baseline.success and self.p95_s <= limit


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class WriterCounts:
    """Jepsen set-checker counts for one ledger writer."""

    attempted: int
    acknowledged: int
    lost: int  # acknowledged but not read back
    recovered: int  # read back though never acknowledged
    unexpected: int  # read back but never attempted
    ephemeral: bool = False  # sessions, presence: counted apart

    @classmethod
    def check(
        cls, *, attempted: set[str], acknowledged: set[str], read_back: set[str], ephemeral: bool = False
    ) -> WriterCounts:
        return cls(
            attempted=len(attempted),
            acknowledged=len(acknowledged),
            lost=len(acknowledged - read_back),
            recovered=len(read_back & (attempted - acknowledged)),
            unexpected=len(read_back - attempted),
            ephemeral=ephemeral,
        )


@dataclass(frozen=True)
class Observations:
    """Everything the runner measured for one scenario, as the scorer needs it."""

    target: str
    affected: frozenset[str]  # features that depend on the target
    baseline: Mapping[str, Sequence[Sample]]  # feature -> steady-state samples
    during: Mapping[str, Sequence[Sample]]  # feature -> samples while the faults were active
    health: Mapping[str, Health]  # component (other than target) -> worst state
    writers: Mapping[str, WriterCounts]
    expect: Mapping[str, Outcome]
    recovery_s: float | None  # None: not back to baseline within the timeout
    recovery_target_s: float
    recovery_timeout_s: float


@dataclass(frozen=True)
class Weights:
    isolation: float = 0.25
    cascade: float = 0.20
    data: float = 0.25
    fail_behaviour: float = 0.15
    recovery: float = 0.15


@dataclass(frozen=True)
class ScenarioScore:
    isolation: float
    isolation_label: Label
    unhealthy_unaffected: tuple[str, ...]
    cascaded_share: float
    cascade_label: Label
    cascaded: tuple[str, ...]
    data: float
    data_label: Label
    behaviour: Mapping[str, FailBehaviour]  # affected feature -> observed
    behaviour_match: float
    mismatches: tuple[str, ...]
    recovery: float
    recovery_s: float | None
    readiness: float  # 0..100
    components: Mapping[str, float] = field(default_factory=dict)


def score(obs: Observations, weights: Weights = Weights()) -> ScenarioScore:
    """Apply the product rules of ARCHITECTURE.md to one scenario's observations."""
    isolation, unhealthy = _isolation(obs)
    cascaded_share, cascade_label, cascaded = _cascade(obs)
    data, data_label = _data(obs)
    behaviour, match, mismatches = _behaviour(obs)
    recovery = _recovery(obs)
    parts = {
        "isolation": isolation,
        "cascade": 1.0 - cascaded_share,
        "data": data,
        "fail_behaviour": match,
        "recovery": recovery,
    }
    readiness = (
        100
        * (
            weights.isolation * parts["isolation"]
            + weights.cascade * parts["cascade"]
            + weights.data * parts["data"]
            + weights.fail_behaviour * parts["fail_behaviour"]
            + weights.recovery * parts["recovery"]
        )
        / (weights.isolation + weights.cascade + weights.data + weights.fail_behaviour + weights.recovery)
    )
    return ScenarioScore(
        isolation=isolation,
        isolation_label=Label.YES if isolation >= 1.0 else Label.PARTIAL if isolation >= 0.5 else Label.NO,
        unhealthy_unaffected=unhealthy,
        cascaded_share=cascaded_share,
        cascade_label=cascade_label,
        cascaded=cascaded,
        data=data,
        data_label=data_label,
        behaviour=behaviour,
        behaviour_match=match,
        mismatches=mismatches,
        recovery=recovery,
        recovery_s=obs.recovery_s,
        readiness=round(readiness, 1),
        components=parts,
    )


def _isolation(obs: Observations) -> tuple[float, tuple[str, ...]]:
    unaffected = sorted(f for f in obs.baseline if f not in obs.affected)
    if not unaffected:
        return 1.0, ()  # nothing could have been isolated: no penalty
    unhealthy = tuple(
        f
        for f in unaffected
        if not FeatureStats.of(obs.during.get(f, ())).healthy_against(FeatureStats.of(obs.baseline[f]))
    )
    return (len(unaffected) - len(unhealthy)) / len(unaffected), unhealthy


def _cascade(obs: Observations) -> tuple[float, Label, tuple[str, ...]]:
    others = {c: h for c, h in obs.health.items() if c != obs.target}
    bad = tuple(sorted(c for c, h in others.items() if h is not Health.OK))
    share = len(bad) / len(others) if others else 0.0
    if any(others[c] is Health.DOWN for c in bad):
        return share, Label.YES, bad
    return share, (Label.PARTIAL if bad else Label.NO), bad


def _data(obs: Observations) -> tuple[float, Label]:
    durable_lost = sum(w.lost for w in obs.writers.values() if not w.ephemeral)
    ephemeral_lost = sum(w.lost for w in obs.writers.values() if w.ephemeral)
    if durable_lost:
        return 0.0, Label.YES
    if ephemeral_lost:
        return 0.5, Label.PARTIAL
    return 1.0, Label.NO


def _behaviour(obs: Observations) -> tuple[dict[str, FailBehaviour], float, tuple[str, ...]]:
    observed: dict[str, FailBehaviour] = {}
    for feature in sorted(obs.affected | set(obs.expect)):
        samples = obs.during.get(feature, ())
        if samples:
            dominant, _ = Counter(s.outcome for s in samples).most_common(1)[0]
            observed[feature] = FailBehaviour.of(dominant)
    if not obs.expect:
        return observed, 1.0, ()
    mismatches = tuple(
        f for f, want in sorted(obs.expect.items()) if observed.get(f) is not FailBehaviour.expected(want)
    )
    return observed, (len(obs.expect) - len(mismatches)) / len(obs.expect), mismatches


def _recovery(obs: Observations) -> float:
    if obs.recovery_s is None:
        return 0.0
    if obs.recovery_s <= obs.recovery_target_s:
        return 1.0
    span = obs.recovery_timeout_s - obs.recovery_target_s
    if span <= 0:
        return 0.0
    return max(0.0, 1.0 - (obs.recovery_s - obs.recovery_target_s) / span)


def overall(readiness_and_weight: Sequence[tuple[float, float]]) -> float:
    """Weighted mean readiness over scenarios (weight 0..10); 0 when every weight is 0."""
    total = sum(weight for _, weight in readiness_and_weight)
    if total <= 0:
        return 0.0
    return round(sum(readiness * weight for readiness, weight in readiness_and_weight) / total, 1)
