"""Scoring: one scenario's observations → the reports' row and a readiness score (ARCHITECTURE.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# What the runner measured, and the sample vocabulary: reports, probes and claims import them from here too.
from chaosgate.observations import Health as Health
from chaosgate.observations import Observations as Observations
from chaosgate.observations import WriterCounts as WriterCounts
from chaosgate.samples import FeatureStats as FeatureStats
from chaosgate.samples import ProbeOutcome as ProbeOutcome
from chaosgate.samples import SampleRecord
from chaosgate.scenario.models import Outcome


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
    NA = "n/a"  # not measured: left out of the weights
    INCONCLUSIVE = "INCONCLUSIVE"  # measured on a saturated machine: left out, and the gate says so


@dataclass(frozen=True)
class Weights:
    isolation: float = 0.25
    cascade: float = 0.20
    data: float = 0.25
    fail_behaviour: float = 0.15
    recovery: float = 0.15


# How each outcome of a broken feature scores when it is not the expected one (rules v2): a success
# (served or degraded) is what users want; a clean fast rejection is failing well; an error is worse;
# a hang, which holds a user and a worker for the whole timeout, is worst. Without an `expect`, any
# success or clean rejection is failing well.
OUTCOME_VALUE: Mapping[ProbeOutcome, float] = {
    ProbeOutcome.SERVED: 0.8,
    ProbeOutcome.DEGRADED: 0.8,
    ProbeOutcome.REJECTED: 0.6,
    ProbeOutcome.ERROR: 0.2,
    ProbeOutcome.HANG: 0.0,
}


class Severity(StrEnum):
    """How badly harm reached a feature or component beyond the fault (cascade, rules v3)."""

    UNHEALTHY = "unhealthy"  # failed requests (errors, hangs, refusals) it should not have had
    DOWN = "down"  # a component's liveness hung or errored
    NOT_RECOVERED = "not recovered"  # still not at baseline when the recovery timeout ended
    RESTARTED = "restarted"  # back only after the harness restarted it
    SLOW = "slow"  # served, but over the latency rule
    DEGRADED = "degraded"  # served from a fallback it has no reason to use

    @property
    def full(self) -> bool:
        """A full cascade (YES); the others are partial."""
        return self in (Severity.UNHEALTHY, Severity.DOWN, Severity.NOT_RECOVERED, Severity.RESTARTED)


@dataclass(frozen=True)
class Harm:
    """One feature or component that harm reached beyond the fault's dependents or lifetime."""

    kind: str  # a CascadeKind value (chaosgate.result)
    name: str
    severity: Severity
    path: str


@dataclass(frozen=True)
class ScenarioScore:
    isolation: float | None  # None: n/a (no must-survive feature was probed)
    isolation_label: Label
    unhealthy_unaffected: tuple[str, ...]
    broken: tuple[str, ...]
    must_survive: tuple[str, ...]
    cascaded_share: float
    cascade_label: Label
    cascaded: tuple[str, ...]
    data: float | None  # None: n/a (no ledger writer covered a broken feature)
    data_label: Label
    behaviour: Mapping[str, FailBehaviour]  # broken feature -> dominant outcome (shown, not scored)
    behaviour_shares: Mapping[str, Mapping[str, float]]  # broken feature -> outcome -> time share
    behaviour_match: float | None  # None: n/a (no broken feature was probed during the fault)
    mismatches: tuple[str, ...]
    recovery: float | None  # None: the machine was saturated when recovery timed out
    recovery_s: float | None
    readiness: float  # 0..100 over the measured dimensions
    components: Mapping[str, float | None] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)  # the weights that counted
    cascade_paths: tuple[Harm, ...] = ()
    inconclusive: tuple[str, ...] = ()  # features whose only harm was latency on a saturated machine
    data_reason: str = ""


def score(obs: Observations, weights: Weights = Weights()) -> ScenarioScore:
    """Apply the product rules (version 3) of ARCHITECTURE.md to one scenario's observations."""
    isolation, unhealthy, void = _containment(obs)
    cascade, cascade_label, harms, cascaded_share, void_cascade = _cascade(obs)
    data, data_label, data_reason = _data(obs)
    behaviour, shares, match, mismatches = _behaviour(obs)
    void_behaviour = _hung_on_saturated(obs)
    if obs.short:
        void_behaviour, match, mismatches = tuple(shares), None, ()
    recovery = _recovery(obs)
    parts: dict[str, float | None] = {
        "isolation": isolation,
        "cascade": cascade,
        "data": data,
        "fail_behaviour": match,
        "recovery": recovery,
    }
    counted = {k: getattr(weights, k) for k, v in parts.items() if v is not None}
    total = sum(counted.values())
    readiness = 100 * sum(w * (parts[k] or 0.0) for k, w in counted.items()) / total if total > 0 else 0.0
    return ScenarioScore(
        isolation=isolation,
        isolation_label=Label.INCONCLUSIVE if isolation is None and void else _isolation_label(isolation),
        unhealthy_unaffected=unhealthy,
        broken=tuple(sorted(f for f in obs.broken if f in obs.baseline)),
        must_survive=tuple(obs.must_survive),
        cascaded_share=cascaded_share,
        cascade_label=cascade_label,
        cascaded=tuple(sorted({h.name for h in harms})),
        data=data,
        data_label=data_label,
        behaviour=behaviour,
        behaviour_shares=shares,
        behaviour_match=match,
        mismatches=mismatches,
        recovery=recovery,
        recovery_s=obs.recovery_s,
        readiness=round(readiness, 1),
        components=parts,
        weights=counted,
        cascade_paths=harms,
        inconclusive=tuple(sorted(set(void) | set(void_cascade) | set(void_behaviour))),
        data_reason=data_reason,
    )


def _isolation_label(isolation: float | None) -> Label:
    if isolation is None:
        return Label.NA
    return Label.YES if isolation >= 1.0 else Label.PARTIAL if isolation >= 0.5 else Label.NO


def _containment(obs: Observations) -> tuple[float | None, tuple[str, ...], tuple[str, ...]]:
    """Share of must-survive features that stayed healthy; degraded counts as success only for a
    feature that soft-depends on the target (anything else should not even notice the fault). A
    feature harmed only in latency while the control says the machine was saturated is void
    (inconclusive): left out; when nothing conclusive is left unhealthy, the dimension is None."""
    survivors = obs.must_survive
    if not survivors:
        return None, (), ()
    unhealthy, void = [], []
    for feature in survivors:
        verdict = _verdict(obs, feature, degraded_ok=feature in obs.soft)
        if verdict is Severity.SLOW and obs.saturated:
            void.append(feature)
        elif verdict is not None:
            unhealthy.append(feature)
    if void and not unhealthy:
        return None, (), tuple(void)
    counted = len(survivors) - len(void)
    return (counted - len(unhealthy)) / counted, tuple(unhealthy), tuple(void)


def _verdict(obs: Observations, feature: str, *, degraded_ok: bool) -> Severity | None:
    """None when `feature` stayed healthy in the fault window (the isolation rule), else how it was
    harmed: failed requests first, then degraded answers it had no reason to give, then latency.
    On a saturated machine a hang (no answer within the probe timeout) is latency too: the control
    itself took seconds, so the target cannot be blamed for it."""
    baseline = FeatureStats.of(obs.baseline.get(feature, ()))
    during = list(obs.during.get(feature, ()))
    if not during:  # no probe finished in the window: on a saturated machine, the machine's doing
        return Severity.SLOW if obs.hangs_void else Severity.UNHEALTHY
    answered = [s for s in during if s.outcome is not ProbeOutcome.HANG] if obs.hangs_void else during
    if not answered:
        return Severity.SLOW
    stats = FeatureStats.of(answered)
    if stats.success < 0.99 * baseline.success:
        return Severity.UNHEALTHY
    if not degraded_ok:
        strict = sum(1 for s in answered if s.outcome is ProbeOutcome.SERVED) / len(answered)
        if strict < 0.99 * baseline.success:
            return Severity.DEGRADED
    if len(answered) < len(during) or not FeatureStats.of(during).healthy_against(baseline):
        return Severity.SLOW
    return None


def _cascade(obs: Observations) -> tuple[float | None, Label, tuple[Harm, ...], float, tuple[str, ...]]:
    """Rules v3: harm beyond the fault's dependents (collateral) or beyond its lifetime (persistence).
    YES for failed requests, a component down or a feature not back; PARTIAL for only slow or
    degraded; latency-only harm on a saturated machine is void (INCONCLUSIVE when nothing else)."""
    harms: list[Harm] = []
    void: list[str] = []
    for feature in sorted(f for f in obs.apart if f in obs.baseline and f not in obs.not_recovered):
        verdict = _verdict(obs, feature, degraded_ok=False)
        if verdict is Severity.SLOW and obs.saturated:
            void.append(feature)
        elif verdict is not None:
            harms.append(Harm("collateral-feature", feature, verdict, obs.routes.get(feature, "")))
    for component, health in sorted(obs.health.items()):
        if component == obs.target or health is Health.OK:
            continue
        if health is Health.DOWN:
            route = obs.routes.get(component, "")
            harms.append(Harm("collateral-component", component, Severity.DOWN, route))
        elif component not in obs.on_path:  # a caller slowed by carrying the fault is not a spread
            if obs.saturated:
                void.append(component)
            else:
                harms.append(
                    Harm("collateral-component", component, Severity.SLOW, obs.routes.get(component, ""))
                )
    restarted = Severity.RESTARTED if obs.restarted else Severity.NOT_RECOVERED
    for feature in obs.not_recovered:
        if obs.recovery_saturated:
            void.append(feature)
            continue
        path = obs.routes.get(feature, "") or "still not at baseline after the fault was removed"
        harms.append(Harm("persistence", feature, restarted, path))
    others = [c for c in obs.health if c != obs.target]
    persisted = 0 if obs.recovery_saturated else len(obs.not_recovered)
    candidates = len([f for f in obs.apart if f in obs.baseline]) + len(others) + persisted
    share = min(1.0, len(harms) / candidates) if candidates else 0.0
    if any(h.severity.full for h in harms):
        return 0.0, Label.YES, tuple(harms), share, tuple(void)
    if harms:
        return 0.5, Label.PARTIAL, tuple(harms), share, tuple(void)
    if void:
        return None, Label.INCONCLUSIVE, (), 0.0, tuple(void)
    return 1.0, Label.NO, (), 0.0, ()


def _data(obs: Observations) -> tuple[float | None, Label, str]:
    """Jepsen-style over every writer whose read-back could see (rules v3). Measured only when a
    writer covering a feature the fault touches (broken, or soft-dependent: degraded writes must be
    durable too) attempted writes during the fault window; a loss anywhere is a loss all the same."""
    seeing = {n: c for n, c in obs.writers.items() if not obs.cannot_tell.get(n)}
    blind = "; ".join(f"{n}: cannot tell ({why})" for n, why in sorted(obs.cannot_tell.items()) if why)
    durable = {n: c for n, c in seeing.items() if c.lost and not c.ephemeral}
    ephemeral = {n: c for n, c in seeing.items() if c.lost and c.ephemeral}
    if durable:
        return 0.0, Label.YES, _losses(durable)
    if ephemeral:
        return 0.5, Label.PARTIAL, _losses(ephemeral) + " (ephemeral state)"
    covering = [
        name
        for name, counts in seeing.items()
        if obs.fault_writes.get(name, counts.attempted if not obs.fault_writes else 0)
        and obs.writer_covers.get(name, frozenset()) & (obs.broken | obs.soft)
    ]
    if not covering:
        why = "no writer attempted a write during the fault against a feature the fault touches"
        return None, Label.NA, f"{blind}; {why}" if blind else why
    done = ", ".join(f"{n}: all {seeing[n].acknowledged} acknowledged writes read back" for n in covering)
    return 1.0, Label.NO, f"{done}; {blind}" if blind else done


def _losses(lost: Mapping[str, WriterCounts]) -> str:
    return "; ".join(f"{n} lost {c.lost} of {c.acknowledged} acknowledged" for n, c in sorted(lost.items()))


def _outcome_of(sample: SampleRecord, fast_fail_s: float) -> ProbeOutcome:
    if sample.outcome is ProbeOutcome.REJECTED and sample.latency_s > fast_fail_s:
        return ProbeOutcome.ERROR  # a slow rejection is not failing well
    return sample.outcome


def _behaviour(
    obs: Observations,
) -> tuple[dict[str, FailBehaviour], dict[str, dict[str, float]], float | None, tuple[str, ...]]:
    """Each broken feature over the whole active window, by time share (rules v2)."""
    dominant: dict[str, FailBehaviour] = {}
    shares: dict[str, dict[str, float]] = {}
    values: dict[str, float] = {}
    for feature in sorted(obs.broken | set(obs.expect)):
        samples = [s for s in obs.during.get(feature, ()) if s.outcome not in _void_outcomes(obs)]
        if not samples:
            continue
        outcomes = Counter(_outcome_of(s, obs.fast_fail_s) for s in samples)
        total = sum(outcomes.values())
        shares[feature] = {o.value: round(n / total, 3) for o, n in outcomes.most_common()}
        dominant[feature] = FailBehaviour.of(outcomes.most_common(1)[0][0])
        want = obs.expect.get(feature)
        values[feature] = sum(n * _value(o, want) for o, n in outcomes.items()) / total
    mismatches = tuple(
        f
        for f, want in sorted(obs.expect.items())
        if f in dominant and dominant[f] is not FailBehaviour.expected(want)
    )
    if not values:
        return dominant, shares, None, mismatches
    return dominant, shares, sum(values.values()) / len(values), mismatches


def _void_outcomes(obs: Observations) -> frozenset[ProbeOutcome]:
    """Outcomes that say nothing about the target: a hang while the control itself was slow."""
    return frozenset({ProbeOutcome.HANG}) if obs.hangs_void else frozenset()


def _hung_on_saturated(obs: Observations) -> tuple[str, ...]:
    """Broken or expected features whose hangs were left out of fail behaviour (machine saturated)."""
    return tuple(
        f
        for f in sorted(obs.broken | set(obs.expect))
        if obs.hangs_void and any(s.outcome is ProbeOutcome.HANG for s in obs.during.get(f, ()))
    )


def _value(outcome: ProbeOutcome, want: Outcome | None) -> float:
    if want is None:
        return (
            1.0
            if outcome in (ProbeOutcome.SERVED, ProbeOutcome.DEGRADED, ProbeOutcome.REJECTED)
            else (OUTCOME_VALUE[outcome])
        )
    if outcome.value == want.value:
        return 1.0
    return OUTCOME_VALUE[outcome]


def _recovery(obs: Observations) -> float | None:
    if obs.recovery_s is None:
        return None if obs.recovery_saturated else 0.0
    if obs.recovery_s <= obs.recovery_target_s:
        return 1.0
    span = obs.recovery_timeout_s - obs.recovery_target_s
    if span <= 0:
        return 0.0
    return max(0.0, 1.0 - (obs.recovery_s - obs.recovery_target_s) / span)
