"""`--repeat` aggregation on hand-made results: spread per dimension, and which run the gate judges."""

from __future__ import annotations

from chaosgate.gate import GatePolicy, decide
from chaosgate.repeat import GateOn, gated_index, summarise
from chaosgate.result import RunResult, ScenarioResult, ScoreRecord
from chaosgate.scoring import Label


def scored(name: str, readiness: float, *, status: str = "completed") -> ScenarioResult:
    score = ScoreRecord(
        readiness=readiness,
        isolation=1.0,
        isolation_label=Label.YES,
        unhealthy_unaffected=[],
        cascade_label=Label.NO,
        cascaded=[],
        cascaded_share=0.0,
        data=1.0,
        data_label=Label.NO,
        behaviour={},
        expected={},
        behaviour_match=readiness / 100,
        recovery=1.0,
        components={},
    )
    return ScenarioResult(
        name=name,
        title=name,
        target="redis",
        weight=5,
        status=status,
        started_at=0.0,
        recovery_s=2.0,
        score=score if status == "completed" else None,
    )


def run_of(*scenarios: ScenarioResult) -> RunResult:
    return RunResult(run_id="r", started_at=0.0, profile="hardened", runtime="local", backends={},
                     scenarios=list(scenarios))  # fmt: skip


def test_worst_gating_judges_the_lowest_run() -> None:
    runs = [scored("a", 90), scored("a", 60), scored("a", 80)]
    assert gated_index(runs, GateOn.WORST) == 1
    result = run_of(*runs)
    decide(result, GatePolicy(min_score=70, repeat=3, gate_on=GateOn.WORST))
    assert result.gate is not None and not result.gate.passed
    assert result.overall == 60


def test_quantiles_pick_the_run_that_share_of_repetitions_reaches() -> None:
    runs = [scored("a", r) for r in (95, 50, 90, 85, 80, 92, 88, 91, 89, 93)]
    assert runs[gated_index(runs, GateOn.P90)].score.readiness == 80  # type: ignore[union-attr]
    assert runs[gated_index(runs, GateOn.P50)].score.readiness == 90  # type: ignore[union-attr]
    result = run_of(*runs)
    decide(result, GatePolicy(min_score=80, repeat=10, gate_on=GateOn.P90))
    assert result.gate is not None and result.gate.passed


def test_an_aborted_repetition_is_worse_than_any_score() -> None:
    runs = [scored("a", 40), scored("a", 0, status="aborted"), scored("a", 99)]
    assert gated_index(runs, GateOn.WORST) == 1
    result = run_of(*runs)
    decide(result, GatePolicy(min_score=None, repeat=3, gate_on=GateOn.WORST))
    assert result.gate is not None and not result.gate.passed


def test_spread_per_dimension_and_every_repetition_kept() -> None:
    runs = [scored("a", 80), scored("a", 100), scored("b", 70), scored("b", 70)]
    result = run_of(*runs)
    decide(result, GatePolicy(min_score=None, repeat=2, gate_on=GateOn.WORST))
    assert result.repeat is not None and len(result.scenarios) == 4
    a = result.repeat.scenarios["a"].dimensions["readiness"]
    assert (a.mean, a.min, a.max, a.stdev) == (90, 80, 100, 10)
    assert summarise(runs[2:], GateOn.WORST).dimensions["readiness"].stdev == 0
    assert result.repeat.scenarios["a"].gated_run == 0
