"""The release gate on hand-made results: floors (expect met, n/a dimensions), and one verdict for
the overall score under --repeat."""

from __future__ import annotations

import pytest

from chaosgate.errors import ValidationError
from chaosgate.gate import GatePolicy, decide, parse_floors
from chaosgate.repeat import GateOn
from chaosgate.result import RunResult, ScenarioResult, ScoreRecord
from chaosgate.scoring import FailBehaviour, Label


def scenario(
    name: str,
    readiness: float,
    *,
    behaviour: dict[str, FailBehaviour] | None = None,
    expected: dict[str, FailBehaviour] | None = None,
    data: float | None = 1.0,
    isolation: float | None = 1.0,
) -> ScenarioResult:
    score = ScoreRecord(
        readiness=readiness,
        isolation=isolation,
        isolation_label=Label.NA if isolation is None else Label.YES if isolation == 1 else Label.NO,
        unhealthy_unaffected=[],
        cascade_label=Label.NO,
        cascaded=[],
        cascaded_share=0.0,
        data=data,
        data_label=Label.NA if data is None else Label.NO,
        behaviour=behaviour or {},
        expected=expected or {},
        behaviour_match=None,
        recovery=1.0,
        components={},
    )
    return ScenarioResult(
        name=name, title=name, target="redis", weight=5, status="completed", started_at=0.0, score=score
    )


def run_of(*scenarios: ScenarioResult) -> RunResult:
    return RunResult(
        run_id="r",
        started_at=0.0,
        profile="hardened",
        runtime="local",
        backends={},
        scenarios=list(scenarios),
    )


def test_expect_met_fails_a_scenario_whose_feature_failed_otherwise_than_expected() -> None:
    floors = parse_floors(["expect=met"])
    kept = scenario("a", 99, behaviour={"auth.login": FailBehaviour.DEGRADED},
                    expected={"auth.login": FailBehaviour.DEGRADED})  # fmt: skip
    broken = scenario("b", 99, behaviour={"auth.login": FailBehaviour.UNCLEAN},
                      expected={"auth.login": FailBehaviour.DEGRADED})  # fmt: skip
    result = run_of(kept, broken)
    decide(result, GatePolicy(floors=floors))
    assert result.gate is not None and not result.gate.passed
    assert result.gate.reasons == ["b: expect not met: auth.login UNCLEAN (expected DEGRADED)"]
    with pytest.raises(ValidationError, match="expect takes only 'met'"):
        parse_floors(["expect=yes"])


def test_no_floor_applies_to_a_dimension_that_was_not_measured() -> None:
    floors = parse_floors(["data_loss=none", "isolation=yes", "fail_behaviour=0.9"])
    result = run_of(scenario("a", 90, data=None, isolation=None))
    decide(result, GatePolicy(floors=floors))
    assert result.gate is not None and result.gate.passed, result.gate.reasons


def test_the_overall_and_the_verdict_come_from_the_gated_repetitions() -> None:
    # two scenarios, three repetitions each; gated on the worst repetition of each
    result = run_of(*(scenario("a", r) for r in (95, 80, 90)), *(scenario("b", r) for r in (70, 99, 98)))
    decide(result, GatePolicy(min_score=76, repeat=3, gate_on=GateOn.WORST))
    assert result.overall == 75.0  # (80 + 70) / 2, not the mean of all six runs
    assert result.gate is not None and not result.gate.passed
    assert result.repeat is not None and result.repeat.scenarios["a"].gated_run == 1


def test_a_scenario_may_carry_its_own_readiness_floor() -> None:
    kept, slipped = scenario("a", 98.5), scenario("b", 93.0)
    kept.min_readiness = slipped.min_readiness = 94
    result = run_of(kept, slipped)
    decide(result, GatePolicy(min_score=90))
    assert result.gate is not None and result.gate.reasons == ["b: readiness 93 (its floor 94)"]


def test_a_misspelt_floor_is_named_with_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"unknown dimension 'isolaton' \(did you mean 'isolation'\?\)"):
        parse_floors(["isolaton=yes"])


def test_an_expectation_judged_under_a_fault_the_harness_fell_short_of_is_inconclusive() -> None:
    missed = scenario("flood", 99, behaviour={"chat.ws": FailBehaviour.FAIL_OPEN},
                      expected={"chat.ws": FailBehaviour.FAIL_CLOSED})  # fmt: skip
    assert missed.score is not None
    missed.score.inconclusive = missed.score.broken = ["chat.ws"]
    result = run_of(missed)
    decide(result, GatePolicy(floors=parse_floors(["expect=met"])))
    assert result.gate is not None and result.gate.passed and result.gate.verdict == "INCONCLUSIVE"
    assert result.gate.inconclusive and "fail behaviour inconclusive" in result.gate.inconclusive[0]
