"""bench/gate.py's arithmetic on hand-written result.json dicts: each dimension's reading, the
dimension matrix (PROVEN, NOT PROVEN, FLAKY) and the bench's exit condition. The scoring itself is
proven elsewhere; these dicts only stand for what `chaosgate run` writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def load_bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "gate.py"
    spec = importlib.util.spec_from_file_location("gate_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = load_bench()
State, Verdict = bench.State, bench.Verdict

GOOD = {"isolation": "YES", "cascade": "NO", "data": "NO", "behaviour": 1.0, "recovery": 1.0}


def score(**changes: Any) -> dict[str, Any]:
    """A scenario's `score` as result.json holds it; good on every dimension unless changed."""
    dims = {**GOOD, **changes}
    return {
        "readiness": 100.0,
        "isolation_label": dims["isolation"],
        "cascade_label": dims["cascade"],
        "data_label": dims["data"],
        "behaviour_match": dims["behaviour"],
        "recovery": dims["recovery"],
        "components": {"recovery": dims["recovery"]},
    }


def cell(label: str, passed: bool = True, **scores: dict[str, Any]) -> Any:
    """A cell read from a result.json whose scenarios (keyword: name) carry the given scores."""
    return read_cell(label, passed, scores)


def read_cell(label: str, passed: bool, scores: dict[str, dict[str, Any]]) -> Any:
    data = {
        "gate": {"passed": passed},
        "overall": 95.0,
        "capacity": {"rps": 40.0},
        "scenarios": [
            {"name": name.replace("_", "-"), "weight": 5, "score": s} for name, s in scores.items()
        ],
    }
    return bench.read_result(bench.Cell(label, []), data)


def hardened(*scores_per_repetition: dict[str, dict[str, Any]]) -> list[Any]:
    return [read_cell(f"hardened #{i + 1}", True, s) for i, s in enumerate(scores_per_repetition)]


def row(rows: list[Any], dimension: str) -> Any:
    return next(r for r in rows if r.dimension == dimension)


def test_labels_read_good_bad_or_neither() -> None:
    readings = bench.dimension_readings(score(isolation="PARTIAL", cascade="INCONCLUSIVE", data="n/a"))
    assert readings["isolation"] == bench.Reading("PARTIAL", State.BAD)
    assert readings["cascade"] == bench.Reading("INCONCLUSIVE", State.INCONCLUSIVE)
    assert readings["data loss"] == bench.Reading("n/a", State.NA)
    assert bench.dimension_readings(score(cascade="YES", data="PARTIAL"))["data loss"].state is State.BAD
    assert bench.dimension_readings(score(isolation="NO", cascade="NO"))["cascade"].state is State.GOOD


@pytest.mark.parametrize(
    ("behaviour", "state"),
    [(bench.BEHAVIOUR_GOOD, State.GOOD), (0.79, State.BAD), (None, State.NA), (1.0, State.GOOD)],
)
def test_fail_behaviour_reads_bad_below_the_threshold(behaviour: float | None, state: Any) -> None:
    assert bench.dimension_readings(score(behaviour=behaviour))["fail behaviour"].state is state


def test_recovery_reads_bad_when_slower_than_the_target() -> None:
    assert bench.dimension_readings(score(recovery=0.99))["recovery"] == bench.Reading("0.99", State.BAD)
    assert bench.dimension_readings(score(recovery=0.0))["recovery"].state is State.BAD
    assert bench.dimension_readings(score())["recovery"].state is State.GOOD


def test_a_scenario_without_a_score_has_no_reading() -> None:
    errored = cell("baseline", redis_down={})
    assert errored.readiness == {"redis-down": None}
    assert set(errored.dimensions["redis-down"].values()) == {bench.NO_READING}


def test_a_cell_keeps_its_gate_verdict_readiness_and_readings() -> None:
    read = cell("baseline", passed=False, push_outage=score(data="YES"))
    assert (read.passed, read.overall, read.capacity) == (False, 95.0, 40.0)
    assert read.weights == {"push-outage": 5.0}
    assert read.dimensions["push-outage"]["data loss"] == bench.Reading("YES", State.BAD)


def test_a_dimension_bad_on_baseline_and_good_on_every_hardened_repetition_is_proven() -> None:
    baseline = cell("baseline", push_outage=score(data="YES"), cassandra_slow=score())
    reps = hardened(*[{"push_outage": score(), "cassandra_slow": score()}] * 3)
    data = row(bench.dimension_matrix(reps, [baseline]), "data loss")
    assert data.verdict is Verdict.PROVEN
    assert [(p.cell, p.scenario) for p in data.bad] == [("baseline", "push-outage")]
    assert [r.shown for r in data.hardened["push-outage"]] == ["NO", "NO", "NO"]


def test_a_switch_off_is_a_place_where_a_dimension_can_read_bad() -> None:
    switch_off = cell("gateway_bulkheads=off", objectstore_slow=score(cascade="YES"))
    reps = hardened(*[{"objectstore_slow": score()}] * 3)
    cascade = row(bench.dimension_matrix(reps, [cell("baseline", objectstore_slow=score())]), "cascade")
    assert cascade.verdict is Verdict.NOT_PROVEN
    cascade = row(bench.dimension_matrix(reps, [switch_off]), "cascade")
    assert cascade.verdict is Verdict.PROVEN
    assert cascade.bad[0].cell == "gateway_bulkheads=off"


def test_a_dimension_that_reads_bad_nowhere_is_not_proven() -> None:
    baseline = cell(
        "baseline", redis_down=score(isolation="NO"), websocket_flood=score(cascade="INCONCLUSIVE")
    )
    reps = hardened(*[{"redis_down": score(), "websocket_flood": score()}] * 3)
    rows = bench.dimension_matrix(reps, [baseline])
    assert row(rows, "isolation").verdict is Verdict.PROVEN
    # INCONCLUSIVE is not bad: a saturated machine proves nothing about the stack
    assert row(rows, "cascade").verdict is Verdict.NOT_PROVEN
    assert row(rows, "recovery").verdict is Verdict.NOT_PROVEN


@pytest.mark.parametrize("second", [score(data="PARTIAL"), score(data="INCONCLUSIVE"), {}])
def test_hardened_not_good_in_one_repetition_there_is_flaky(second: dict[str, Any]) -> None:
    baseline = cell("baseline", push_outage=score(data="YES"))
    reps = hardened({"push_outage": score()}, {"push_outage": second}, {"push_outage": score()})
    assert row(bench.dimension_matrix(reps, [baseline]), "data loss").verdict is Verdict.FLAKY


def test_one_place_where_hardened_is_always_good_proves_it_and_the_others_are_shown() -> None:
    # ARCHITECTURE.md: one configuration where it reads bad and hardened reads good there every time
    baseline = cell("baseline", backend_slow=score(behaviour=0.08), cassandra_slow=score(behaviour=0.14))
    reps = hardened(*[{"backend_slow": score(), "cassandra_slow": score(behaviour=0.5)}] * 3)
    behaviour = row(bench.dimension_matrix(reps, [baseline]), "fail behaviour")
    assert behaviour.verdict is Verdict.PROVEN
    assert behaviour.hardened_short == ["cassandra-slow"]
    text = "\n".join(bench.format_dimension_matrix([behaviour]))
    assert "hardened not good at: cassandra-slow" in text


def test_hardened_never_good_where_it_reads_bad_is_flaky() -> None:
    baseline = cell("baseline", backend_slow=score(behaviour=0.08), cassandra_slow=score(behaviour=0.14))
    reps = hardened(
        {"backend_slow": score(behaviour=0.6), "cassandra_slow": score()},
        {"backend_slow": score(), "cassandra_slow": score(behaviour=0.5)},
    )
    behaviour = row(bench.dimension_matrix(reps, [baseline]), "fail behaviour")
    assert behaviour.verdict is Verdict.FLAKY
    assert [r.shown for r in behaviour.hardened["cassandra-slow"]] == ["1.00", "0.50"]


def test_no_hardened_repetition_proves_nothing() -> None:
    baseline = cell("baseline", push_outage=score(data="YES"))
    assert row(bench.dimension_matrix([], [baseline]), "data loss").verdict is Verdict.FLAKY


def sample_rows() -> list[Any]:
    """The bench's cells in small: baseline, one switch off, three hardened repetitions."""
    baseline = cell(
        "baseline",
        passed=False,
        objectstore_slow=score(isolation="NO", cascade="YES", recovery=0.4),
        push_outage=score(data="YES", behaviour=0.45),
    )
    bulkheads = cell("gateway_bulkheads=off", passed=False, objectstore_slow=score(cascade="PARTIAL"))
    good = {"objectstore_slow": score(), "push_outage": score()}
    reps = hardened(good, {**good, "push_outage": score(data="INCONCLUSIVE")}, good)
    return bench.dimension_matrix(reps, [baseline, bulkheads])


def test_the_printed_matrix_names_places_readings_and_verdicts() -> None:
    lines = bench.format_dimension_matrix(sample_rows())
    text = "\n".join(lines)
    print(text)
    assert "cascade         PROVEN      baseline: objectstore-slow YES; gateway_bulkheads=off: " in text
    assert "hardened: objectstore-slow NO NO NO" in text
    assert "data loss       FLAKY       baseline: push-outage YES" in text
    assert "hardened: push-outage NO INCONCLUSIVE NO" in text
    assert "recovery        PROVEN      baseline: objectstore-slow 0.40" in text
    assert all(len(line) <= 110 for line in lines)


def test_the_bench_fails_when_a_dimension_is_not_proven_or_flaky() -> None:
    rows = sample_rows()
    hardened_cells = hardened({}, {}, {})
    switched = bench.Cell("gateway_bulkheads=off", [], passed=False)
    run = bench.Bench([], ["gateway_bulkheads"], hardened_cells, [cell("baseline", passed=False)], {})
    run.switches["gateway_bulkheads"] = switched
    met = bench.targets(run, rows)
    assert (met.baseline_failed, met.false_alarms, met.caught, met.exercised) == (True, 0, 1, 1)
    assert met.unproven == {Verdict.NOT_PROVEN: [], Verdict.FLAKY: ["data loss"]}
    assert not met.met
    proven = [r for r in rows if r.verdict is Verdict.PROVEN]
    assert bench.targets(run, proven).met
    cannot_fail = bench.dimension_matrix(hardened_cells, [])
    assert bench.targets(run, cannot_fail).unproven[Verdict.NOT_PROVEN] == list(bench.DIMENSIONS)
