"""The release gate: an overall minimum score and per-dimension floors every scenario must meet."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from chaosgate.durations import parse_duration
from chaosgate.errors import ValidationError
from chaosgate.repeat import GateOn, by_scenario, gated_index, summarise
from chaosgate.result import GateResult, RepeatRecord, RunResult, ScenarioResult, ScenarioStatus
from chaosgate.scoring import Label

# `chaosgate run`'s exit code when the gate could not judge (a saturated machine) and nothing failed.
EXIT_INCONCLUSIVE = 4

# Better-first order of each label dimension: isolation wants YES, cascade and data loss want NO.
_BEST_FIRST = {
    "isolation": [Label.YES, Label.PARTIAL, Label.NO],
    "cascade": [Label.NO, Label.PARTIAL, Label.YES],
    "data_loss": [Label.NO, Label.PARTIAL, Label.YES],
}
_ALIASES = {"none": Label.NO, "no": Label.NO, "partial": Label.PARTIAL, "yes": Label.YES}
FLOOR_HELP = (
    "isolation=yes|partial|no, cascade=no|partial|yes, data_loss=none|partial|yes, "
    "readiness=0..100, fail_behaviour=0..1, recovery=<max duration, e.g. 10s>, expect=met"
)


@dataclass(frozen=True)
class Floor:
    key: str
    raw: str
    check: Callable[[ScenarioResult], str | None]  # a reason when the scenario is below the floor


def parse_floors(items: Iterable[str]) -> list[Floor]:
    """`--floor KEY=VALUE` flags → floors; anything unknown is a ValidationError listing the valid ones."""
    floors: list[Floor] = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().replace("-", "_"), value.strip().lower()
        if not sep or not value:
            raise ValidationError(f"--floor {item!r}: expected KEY=VALUE; valid: {FLOOR_HELP}")
        floors.append(_floor(key, value, item))
    return floors


_KEYS = ("isolation", "cascade", "data_loss", "readiness", "fail_behaviour", "recovery", "expect")


def _floor(key: str, value: str, raw: str) -> Floor:
    if key not in _KEYS:  # name the misspelt dimension before judging its value
        near = difflib.get_close_matches(key, _KEYS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValidationError(f"--floor {raw!r}: unknown dimension {key!r}{hint}; valid: {FLOOR_HELP}")
    if key == "expect":
        if value != "met":
            raise ValidationError(f"--floor {raw!r}: expect takes only 'met'; valid: {FLOOR_HELP}")
        return Floor(key, raw, _expect_met)
    if key in _BEST_FIRST:
        if value not in _ALIASES:
            raise ValidationError(f"--floor {raw!r}: {value!r} is not a level; valid: {FLOOR_HELP}")
        limit = _ALIASES[value]
        order = _BEST_FIRST[key]

        def label_check(s: ScenarioResult) -> str | None:
            assert s.score is not None
            label = {
                "isolation": s.score.isolation_label,
                "cascade": s.score.cascade_label,
                "data_loss": s.score.data_label,
            }[key]
            if label in (Label.NA, Label.INCONCLUSIVE):
                return None  # not measured, or void (evaluate names it): no floor applies
            return (
                None
                if order.index(label) <= order.index(limit)
                else f"{key} {label.value} (floor {limit.value})"
            )

        return Floor(key, raw, label_check)
    try:
        number = parse_duration(value) if key == "recovery" else float(value)
    except ValueError:
        raise ValidationError(f"--floor {raw!r}: {value!r} is not a number; valid: {FLOOR_HELP}") from None
    if key == "readiness":
        return Floor(key, raw, lambda s: _below(s.score.readiness if s.score else 0.0, number, "readiness"))
    if key == "fail_behaviour":
        return Floor(key, raw, lambda s: _below(s.score.behaviour_match if s.score else 0.0, number, key))
    if key == "recovery":
        return Floor(key, raw, lambda s: None if _recovery_void(s) else _slower(s.recovery_s, number))
    raise ValidationError(f"--floor {raw!r}: unknown dimension {key!r}; valid: {FLOOR_HELP}")


def _expect_met(s: ScenarioResult) -> str | None:
    """Every feature the scenario names in `expect` failed the way it says (its dominant outcome over
    the active window): the SRE's statement of the fixed stack's behaviour, held as a floor."""
    assert s.score is not None
    missed = [
        f"{feature} {s.score.behaviour[feature].value} (expected {want.value})"
        for feature, want in sorted(s.score.expected.items())
        if feature in s.score.behaviour
        and s.score.behaviour[feature] is not want
        and feature not in s.score.inconclusive  # judged under a fault the harness fell short of
    ]
    return f"expect not met: {', '.join(missed)}" if missed else None


def _recovery_void(s: ScenarioResult) -> bool:
    """Not back, but the control was still slow then too: inconclusive, not a recovery floor missed."""
    return s.score is not None and s.recovery_s is None and s.score.recovery is None


def _slower(recovery_s: float | None, limit_s: float) -> str | None:
    if recovery_s is not None and recovery_s <= limit_s:
        return None
    took = "never" if recovery_s is None else f"{recovery_s:.1f}s"
    return f"recovery {took} (floor {limit_s:g}s)"


def _below(value: float | None, floor: float, name: str) -> str | None:
    if value is None:
        return None  # n/a: not measured, so no floor applies
    return None if value >= floor else f"{name} {value:g} (floor {floor:g})"


def evaluate(
    scenarios: list[ScenarioResult], overall: float | None, *, min_score: float | None, floors: list[Floor]
) -> GateResult:
    """The verdict: overall >= min_score, every scenario completed and above every floor; what was
    judged on a saturated machine is named apart (inconclusive), never as a pass or a failure."""
    reasons: list[str] = []
    void = [
        f"{s.name}: {_void(s)}"
        for s in scenarios
        if s.score is not None and (s.score.inconclusive or _labels_void(s))
    ]
    if min_score is not None and (overall is None or overall < min_score):
        reasons.append(f"overall readiness {overall if overall is not None else 'n/a'} < {min_score:g}")
    for scenario in scenarios:
        if scenario.status is not ScenarioStatus.COMPLETED or scenario.score is None:
            reasons.append(f"{scenario.name}: {scenario.status} ({scenario.message})")
            continue
        own = scenario.min_readiness
        if own is not None and scenario.score.readiness < own:
            reasons.append(f"{scenario.name}: readiness {scenario.score.readiness:g} (its floor {own:g})")
        for floor in floors:
            reason = floor.check(scenario)
            if reason:
                reasons.append(f"{scenario.name}: {reason}")
    floor_map: Mapping[str, str] = {f.key: f.raw.partition("=")[2] for f in floors}
    return GateResult(
        min_score=min_score, floors=dict(floor_map), passed=not reasons, reasons=reasons, inconclusive=void
    )


def _labels_void(s: ScenarioResult) -> list[str]:
    assert s.score is not None
    labels = {"isolation": s.score.isolation_label, "cascade": s.score.cascade_label}
    return [name for name, label in labels.items() if label is Label.INCONCLUSIVE]


def _void(s: ScenarioResult) -> str:
    assert s.score is not None
    dims = _labels_void(s)
    if s.score.behaviour_match is None and set(s.score.inconclusive) & set(s.score.broken):
        dims.append("fail behaviour")
    if _recovery_void(s):
        dims.append("recovery")
    what = f"{', '.join(dims)} inconclusive" if dims else "latency verdicts void"
    why = s.control.reason if s.control is not None and s.control.reason else "the control slowed"
    return f"{what} (machine saturated: {why}; features: {', '.join(s.score.inconclusive)})"


def overall(readiness_and_weight: Sequence[tuple[float, float]]) -> float:
    """Weighted mean readiness over scenarios (weight 0..10); 0 when every weight is 0."""
    total = sum(weight for _, weight in readiness_and_weight)
    if total <= 0:
        return 0.0
    return round(sum(readiness * weight for readiness, weight in readiness_and_weight) / total, 1)


@dataclass(frozen=True)
class GatePolicy:
    """What the release gate asks: an overall minimum, per-scenario floors, and with repetitions
    which run of each scenario stands for it."""

    min_score: float | None = None
    floors: Sequence[Floor] = ()
    repeat: int = 1
    gate_on: GateOn = GateOn.WORST


def decide(result: RunResult, policy: GatePolicy) -> None:
    """The one place the overall score and the gate verdict are computed (also under --repeat):
    sets `result.overall`, `result.gate` and, with repetitions, `result.repeat`."""
    groups = by_scenario(result.scenarios)
    chosen = [runs[gated_index(runs, policy.gate_on)] for runs in groups.values()]
    completed = [(s.score.readiness, s.weight) for s in chosen if s.score is not None]
    result.overall = overall(completed) if completed else None
    result.gate = evaluate(chosen, result.overall, min_score=policy.min_score, floors=list(policy.floors))
    if policy.repeat > 1:
        result.repeat = RepeatRecord(
            repeat=policy.repeat,
            gate_on=policy.gate_on.value,
            scenarios={name: summarise(runs, policy.gate_on) for name, runs in groups.items()},
        )
