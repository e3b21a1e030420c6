"""The scoring rules (version 2) of ARCHITECTURE.md, checked on hand-made observations with known answers."""

from __future__ import annotations

import pytest

from chaosgate.gate import overall
from chaosgate.scenario.models import Outcome
from chaosgate.scoring import (
    FailBehaviour,
    FeatureStats,
    Health,
    Label,
    Observations,
    ProbeOutcome,
    Sample,
    WriterCounts,
    percentile,
    score,
)

SERVED = ProbeOutcome.SERVED


def samples(outcome: ProbeOutcome, latency_s: float, n: int = 100) -> list[Sample]:
    return [Sample(outcome, latency_s) for _ in range(n)]


def observations(**overrides: object) -> Observations:
    base: dict[str, object] = dict(
        target="redis",
        broken=frozenset({"auth.login"}),
        baseline={"auth.login": samples(SERVED, 0.010), "chat.history": samples(SERVED, 0.020)},
        during={"auth.login": samples(ProbeOutcome.DEGRADED, 0.015), "chat.history": samples(SERVED, 0.022)},
        health={"auth": Health.OK, "chat": Health.OK, "gateway": Health.OK},
        writers={
            "chat.messages": WriterCounts.check(
                attempted={"a", "b"}, acknowledged={"a", "b"}, read_back={"a", "b"}
            )
        },
        writer_covers={"chat.messages": frozenset({"auth.login"})},
        expect={"auth.login": Outcome.DEGRADED},
        recovery_s=2.0,
        recovery_target_s=5.0,
        recovery_timeout_s=60.0,
    )
    base.update(overrides)
    return Observations(**base)  # type: ignore[arg-type]


def test_a_perfect_scenario_scores_100() -> None:
    result = score(observations())
    assert result.readiness == 100.0
    assert (result.isolation_label, result.cascade_label, result.data_label) == (
        Label.YES,
        Label.NO,
        Label.NO,
    )
    assert result.behaviour == {"auth.login": FailBehaviour.DEGRADED}


def test_isolation_allows_3x_p95_or_250ms_but_not_more() -> None:
    slow_but_within = {"auth.login": samples(SERVED, 0.01), "chat.history": samples(SERVED, 0.020 + 0.249)}
    assert score(observations(during=slow_but_within)).isolation == 1.0
    too_slow = {"auth.login": samples(SERVED, 0.01), "chat.history": samples(SERVED, 0.020 + 0.251)}
    result = score(observations(during=too_slow))
    assert result.isolation == 0.0
    assert result.isolation_label is Label.NO
    assert result.unhealthy_unaffected == ("chat.history",)


def test_isolation_needs_99_percent_of_baseline_success() -> None:
    mostly = samples(SERVED, 0.02, 98) + samples(ProbeOutcome.ERROR, 0.02, 2)
    assert score(observations(during={"chat.history": mostly})).isolation == 0.0
    one_miss = samples(SERVED, 0.02, 99) + samples(ProbeOutcome.ERROR, 0.02, 1)
    assert score(observations(during={"chat.history": one_miss})).isolation == 1.0


def test_cascade_labels_and_share() -> None:
    degraded = score(observations(health={"auth": Health.DEGRADED, "chat": Health.OK}))
    assert (degraded.cascade_label, degraded.cascaded_share, degraded.cascaded) == (
        Label.PARTIAL,
        0.5,
        ("auth",),
    )
    down = score(
        observations(
            health={"auth": Health.DOWN, "chat": Health.DEGRADED, "gateway": Health.OK, "redis": Health.DOWN}
        )
    )
    assert down.cascade_label is Label.YES
    assert down.cascaded == ("auth", "chat")  # the target itself never counts as a cascade
    assert down.cascaded_share == pytest.approx(2 / 3)


def test_data_loss_follows_the_set_checker() -> None:
    counts = WriterCounts.check(attempted={"a", "b", "c"}, acknowledged={"a", "b"}, read_back={"b", "c", "z"})
    assert (counts.lost, counts.recovered, counts.unexpected) == (1, 1, 1)
    durable = score(observations(writers={"chat.messages": counts}))
    assert (durable.data, durable.data_label) == (0.0, Label.YES)
    sessions = WriterCounts.check(attempted={"s"}, acknowledged={"s"}, read_back=set(), ephemeral=True)
    ephemeral = score(observations(writers={"sessions": sessions}))
    assert (ephemeral.data, ephemeral.data_label) == (0.5, Label.PARTIAL)


def test_fail_behaviour_is_scored_by_time_share_not_by_the_dominant_outcome() -> None:
    mixed = samples(ProbeOutcome.REJECTED, 0.01, 60) + samples(ProbeOutcome.HANG, 5.0, 40)
    result = score(observations(during={"auth.login": mixed, "chat.history": samples(SERVED, 0.02)}))
    assert result.behaviour["auth.login"] is FailBehaviour.FAIL_CLOSED  # still shown
    assert result.behaviour_shares["auth.login"] == {"rejected": 0.6, "hang": 0.4}
    # expected degraded: rejected 0.6 of the time (worth 0.6), hung 0.4 (worth 0)
    assert result.behaviour_match == pytest.approx(0.6 * 0.6)
    assert result.mismatches == ("auth.login",)
    hangs = samples(ProbeOutcome.HANG, 5.0)
    assert score(observations(during={"auth.login": hangs})).behaviour["auth.login"] is FailBehaviour.UNCLEAN


def test_a_hang_scores_below_an_error_below_a_clean_rejection_below_the_expected_outcome() -> None:
    def match(outcome: ProbeOutcome, latency_s: float = 0.01) -> float:
        result = score(observations(during={"auth.login": samples(outcome, latency_s)}, fast_fail_s=1.0))
        assert result.behaviour_match is not None
        return result.behaviour_match

    assert match(ProbeOutcome.DEGRADED) == 1.0  # the expected outcome
    assert 1.0 > match(ProbeOutcome.REJECTED) > match(ProbeOutcome.ERROR) > match(ProbeOutcome.HANG, 2.0)
    assert match(ProbeOutcome.HANG, 2.0) == 0.0
    # a rejection that took longer than the fast-fail limit is not failing well
    assert match(ProbeOutcome.REJECTED, 1.5) == match(ProbeOutcome.ERROR)


def test_every_broken_feature_hanging_can_no_longer_score_85() -> None:
    hung = score(
        observations(
            broken=frozenset({"auth.login", "chat.history"}),
            during={
                "auth.login": samples(ProbeOutcome.HANG, 2.0),
                "chat.history": samples(ProbeOutcome.HANG, 2.0),
            },
            expect={},
        )
    )
    rejected = score(
        observations(
            broken=frozenset({"auth.login", "chat.history"}),
            during={
                "auth.login": samples(ProbeOutcome.REJECTED, 0.01),
                "chat.history": samples(ProbeOutcome.REJECTED, 0.01),
            },
            expect={},
        )
    )
    assert hung.isolation is None and hung.isolation_label is Label.NA  # nothing must survive here
    assert hung.behaviour_match == 0.0 and rejected.behaviour_match == 1.0
    assert hung.readiness < rejected.readiness
    assert hung.readiness < 85


def test_unmeasured_dimensions_are_na_and_left_out_of_the_weights() -> None:
    uncovered = score(observations(writer_covers={}))  # the only writer covers no broken feature
    assert (uncovered.data, uncovered.data_label) == (None, Label.NA)
    assert "data" not in uncovered.weights and uncovered.components["data"] is None
    assert uncovered.readiness == 100.0  # every measured dimension is perfect; n/a is not counted
    lossy_uncovered = score(
        observations(
            writer_covers={},
            during={"auth.login": samples(ProbeOutcome.HANG, 2.0), "chat.history": samples(SERVED, 0.02)},
        )
    )
    # with data n/a, the hang weighs 0.15 of 0.75, not 0.15 of 1.0
    assert lossy_uncovered.readiness == pytest.approx(100 * 0.60 / 0.75)
    no_writer = score(observations(writers={}))
    assert no_writer.data_label is Label.NA
    nothing_broken_probed = score(observations(during={"chat.history": samples(SERVED, 0.02)}))
    assert nothing_broken_probed.behaviour_match is None


def test_hard_dependents_are_broken_and_soft_dependents_must_survive() -> None:
    degraded_login = {
        "auth.login": samples(ProbeOutcome.DEGRADED, 0.01),
        "chat.history": samples(SERVED, 0.02),
    }
    # auth.login hard-depends on the target: it is broken, judged by fail behaviour only
    hard = score(observations(during=degraded_login))
    assert hard.broken == ("auth.login",) and hard.must_survive == ("chat.history",)
    assert hard.isolation == 1.0
    # auth.login only soft-depends on the target: it must survive, and degraded counts as success
    soft = score(observations(broken=frozenset(), soft=frozenset({"auth.login"}), during=degraded_login))
    assert soft.must_survive == ("auth.login", "chat.history")
    assert soft.isolation == 1.0
    # a feature that does not depend on the target at all must not even be degraded
    unrelated = score(observations(broken=frozenset(), soft=frozenset(), during=degraded_login))
    assert unrelated.isolation == 0.5 and unrelated.unhealthy_unaffected == ("auth.login",)
    # a soft dependent that fails closed breaks containment
    failing = {"auth.login": samples(ProbeOutcome.REJECTED, 0.01), "chat.history": samples(SERVED, 0.02)}
    closed = score(observations(broken=frozenset(), soft=frozenset({"auth.login"}), during=failing))
    assert closed.isolation == 0.5 and closed.isolation_label is Label.PARTIAL


@pytest.mark.parametrize(
    ("recovery_s", "expected"), [(1.0, 1.0), (5.0, 1.0), (32.5, 0.5), (60.0, 0.0), (None, 0.0)]
)
def test_recovery_falls_linearly_from_target_to_timeout(recovery_s: float | None, expected: float) -> None:
    assert score(observations(recovery_s=recovery_s)).recovery == pytest.approx(expected)


def test_readiness_is_the_weighted_sum() -> None:
    # isolation 0 (25), cascade share 0 (20), data 0.5 (12.5), behaviour 1 (15), recovery 0.5 (7.5) = 80
    result = score(
        observations(
            during={
                "auth.login": samples(ProbeOutcome.DEGRADED, 0.01),
                "chat.history": samples(ProbeOutcome.HANG, 5),
            },
            writers={
                "s": WriterCounts.check(attempted={"s"}, acknowledged={"s"}, read_back=set(), ephemeral=True)
            },
            recovery_s=32.5,
        )
    )
    assert result.readiness == pytest.approx(100 * (0.20 + 0.25 * 0.5 + 0.15 + 0.15 * 0.5))


def test_overall_is_the_weighted_mean_over_scenarios() -> None:
    perfect = score(observations())
    worst = score(
        observations(
            during={},
            recovery_s=None,
            writers={"m": WriterCounts.check(attempted={"a"}, acknowledged={"a"}, read_back=set())},
            health={"auth": Health.DOWN},
        )
    )
    assert overall([(perfect.readiness, 8), (worst.readiness, 2)]) == pytest.approx(
        round((100 * 8 + worst.readiness * 2) / 10, 1)
    )
    assert overall([(perfect.readiness, 0)]) == 0.0


def test_percentile_and_stats() -> None:
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert FeatureStats.of([]).count == 0
