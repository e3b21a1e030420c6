"""Claims files: the seed reports' table loads as written, compares against scores, and a wrong file
is refused with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.claims import Claims, load_claims, measured_fail_behaviour
from chaosgate.errors import ValidationError
from chaosgate.result import ScenarioResult, ScoreRecord
from chaosgate.scoring import FailBehaviour, Label

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "target_system" / "seed-claims.yaml"

MINIMAL = """\
source: {title: A report, file: report.md}
describes: [{profile: baseline}]
scenarios:
  store-down:
    name: Store Down
"""


def score(**changes: object) -> ScoreRecord:
    """A scored scenario: PARTIAL isolation, no cascade, no data loss, mostly clean rejections."""
    fields: dict[str, object] = {
        "readiness": 62.0,
        "isolation": 0.5,
        "isolation_label": Label.PARTIAL,
        "unhealthy_unaffected": ["b"],
        "cascade_label": Label.NO,
        "cascaded": [],
        "cascaded_share": 0.0,
        "data": 1.0,
        "data_label": Label.NO,
        "behaviour": {"x": FailBehaviour.FAIL_CLOSED, "y": FailBehaviour.UNCLEAN},
        "behaviour_shares": {"x": {"rejected": 0.9, "served": 0.1}, "y": {"hang": 0.6, "rejected": 0.4}},
        "expected": {},
        "behaviour_match": 0.5,
        "recovery": 1.0,
        "components": {},
    }
    fields.update(changes)
    return ScoreRecord.model_validate(fields)


def scenario(name: str = "redis-down", sc: ScoreRecord | None = None) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        title="t",
        target="redis",
        weight=1,
        status="completed" if sc else "error",
        started_at=0,
        score=sc,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claims.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_seed_file_holds_the_analysis_table_as_written() -> None:
    claims = load_claims(SEED)

    rows = {
        name: (c.name, c.isolation, c.cascades, c.data_loss, c.fail_behaviour, c.readiness)
        for name, c in claims.scenarios.items()
    }
    assert rows == {
        "redis-down": ("Redis Unavailable", "PARTIAL", "NO", "NO", "FAIL-OPEN", 60),
        "cassandra-slow": ("Cassandra Slow", "PARTIAL", "YES", "PARTIAL", "FAIL-CLOSED", 50),
        "cockroach-pool-exhaustion": ("CockroachDB Exhaustion", "NO", "YES", "NO", "FAIL-CLOSED", 40),
        "service-crash": ("Backend Service Crash", "PARTIAL", "NO", "NO", "FAIL-OPEN", 55),
        "websocket-flood": ("High WebSocket Concurrency", "PARTIAL", "YES", "NO", "FAIL-CLOSED", 70),
        "push-outage": ("Push Provider Downtime", "YES", "NO", "NO", "FAIL-OPEN", 85),
    }
    assert claims.source.file == "chaos-readiness-analysis.md"
    assert str(claims.source.date) == "2026-01-17"
    assert {r.file for r in claims.reports} == {"hardening-report.md", "hardening-verification.md"}
    # The analysis's overall is the plain mean of its rows: 3.6 of 6.
    assert claims.overall == 60
    assert sum(c.readiness or 0 for c in claims.scenarios.values()) / len(claims.scenarios) == 60


def test_the_seed_claims_describe_the_unfixed_system_and_project_the_fixed_one() -> None:
    claims = load_claims(SEED)

    assert claims.applies_to("baseline") and claims.applies_to("verified")
    assert not claims.applies_to("hardened") and not claims.applies_to("reported")
    assert claims.overall_for("baseline") == 60
    assert claims.overall_for("reported") == 88  # the hardening report's projection after its six fixes
    assert claims.overall_for("hardened") is None
    assert (
        claims.describe()
        == "Chaos and Failure Readiness Analysis Report (chaos-readiness-analysis.md, 2026-01-17)"
    )


def test_every_seed_scenario_exists() -> None:
    names = {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}

    assert set(load_claims(SEED).scenarios) <= names


def test_compare_states_agreement_per_dimension() -> None:
    claims = load_claims(SEED)  # redis-down: PARTIAL, NO, NO, FAIL-OPEN, 60

    record = claims.compare(scenario("redis-down", score(data_label=Label.PARTIAL, data=0.5)))

    assert record is not None
    assert record.name == "Redis Unavailable" and record.source == claims.describe()
    assert (record.isolation, record.data_loss, record.fail_behaviour, record.readiness) == (
        "PARTIAL",
        "NO",
        "FAIL-OPEN",
        60,
    )
    assert record.agreement == {
        "isolation": True,
        "cascades": True,
        "data_loss": False,  # claim NO, measured PARTIAL
        "fail_behaviour": False,  # claim FAIL-OPEN; measured mostly clean rejections (FAIL-CLOSED)
        "readiness": True,  # 60 vs 62: within ±10
    }


def test_readiness_agrees_within_ten_points() -> None:
    claims = load_claims(SEED)  # redis-down claims 60

    def agrees(measured: float) -> bool:
        record = claims.compare(scenario("redis-down", score(readiness=measured)))
        assert record is not None
        return record.agreement["readiness"]

    assert agrees(50.0) and agrees(70.0)
    assert not agrees(70.1) and not agrees(49.9)


def test_a_dimension_measured_na_is_no_evidence_either_way() -> None:
    claims = load_claims(SEED)

    na = score(isolation=None, isolation_label=Label.NA, data=None, data_label=Label.NA)
    record = claims.compare(scenario("redis-down", na))

    assert record is not None
    assert "isolation" not in record.agreement and "data_loss" not in record.agreement
    assert record.isolation == "PARTIAL"  # the claim itself is still carried


def test_a_scenario_without_a_score_keeps_its_claim_but_no_agreement() -> None:
    record = load_claims(SEED).compare(scenario("redis-down", None))

    assert record is not None and record.agreement == {} and record.readiness == 60


def test_a_scenario_the_report_does_not_cover_has_no_claim() -> None:
    assert load_claims(SEED).compare(scenario("redis-flaky", score())) is None


def test_dimensions_the_report_does_not_state_are_not_compared(tmp_path: Path) -> None:
    claims = load_claims(write(tmp_path, MINIMAL))

    record = claims.compare(scenario("store-down", score()))

    assert record is not None and record.agreement == {}


def test_the_dominant_fail_behaviour_is_by_time_share_over_all_broken_features() -> None:
    # x rejected 0.9 + y rejected 0.4 = 1.3 FAIL-CLOSED; y hang 0.6 = 0.6 UNCLEAN; x served 0.1.
    assert measured_fail_behaviour(score()) is FailBehaviour.FAIL_CLOSED
    hangs = score(behaviour_shares={"x": {"hang": 1.0}, "y": {"hang": 0.7, "served": 0.3}})
    assert measured_fail_behaviour(hangs) is FailBehaviour.UNCLEAN
    tie = score(behaviour_shares={"x": {"served": 0.5, "error": 0.5}})
    assert measured_fail_behaviour(tie) is FailBehaviour.UNCLEAN  # equal shares: the worse one
    # A result without shares: each feature's dominant behaviour counts once.
    older = score(behaviour_shares={}, behaviour={"x": FailBehaviour.DEGRADED, "y": FailBehaviour.DEGRADED})
    assert measured_fail_behaviour(older) is FailBehaviour.DEGRADED
    assert measured_fail_behaviour(score(behaviour_shares={}, behaviour={})) is None


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (MINIMAL + "    data_loss: NO\n", 6, "scenarios.store-down.data_loss", "quote it, 'NO'"),
        (MINIMAL + "    isolation: MAYBE\n", 6, "scenarios.store-down.isolation", "'YES', 'PARTIAL', 'NO'"),
        (MINIMAL + "    isolation: n/a\n", 6, "scenarios.store-down.isolation", "leave the key out"),
        (MINIMAL + "    readiness: 120\n", 6, "scenarios.store-down.readiness", "less than or equal to 100"),
        (
            MINIMAL + "    fail_behavior: FAIL-OPEN\n",
            6,
            "scenarios.store-down.fail_behavior",
            "fail_behaviour",
        ),
        (
            MINIMAL.replace("    name: Store Down\n", "    readiness: 50\n"),
            4,
            "scenarios.store-down.name",
            "missing",
        ),
        (
            MINIMAL + "projections: [{profile: baseline, overall: 90}]\n",
            0,
            "",
            "profile baseline is listed more than once",
        ),
    ],
)
def test_a_wrong_file_is_refused_with_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ValidationError) as caught:
        load_claims(path)

    assert message in str(caught.value)
    assert caught.value.location is not None
    assert caught.value.location.file == path
    if line:
        assert caught.value.location.line == line
        assert caught.value.location.key == key


def test_a_missing_or_shapeless_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the file"):
        load_claims(tmp_path / "nope.yaml")
    with pytest.raises(ValidationError, match="a claims file is a mapping"):
        load_claims(write(tmp_path, "- just a list\n"))


def test_claims_are_a_typed_model() -> None:
    claims = load_claims(SEED)

    assert isinstance(claims, Claims)
    assert claims.scenarios["cassandra-slow"].data_loss is Label.PARTIAL
    assert claims.scenarios["push-outage"].fail_behaviour is FailBehaviour.FAIL_OPEN
