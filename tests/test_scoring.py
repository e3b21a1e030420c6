"""The scoring rules (version 3) of ARCHITECTURE.md, checked on hand-made observations with known answers."""

from __future__ import annotations

import pytest

from chaosgate.gate import overall
from chaosgate.observations import Health, Observations, WriterCounts
from chaosgate.samples import FeatureStats, Phase, ProbeOutcome, SampleRecord, percentile
from chaosgate.scenario.models import Outcome
from chaosgate.scoring import FailBehaviour, Label, score

SERVED = ProbeOutcome.SERVED


def samples(outcome: ProbeOutcome, latency_s: float, n: int = 100) -> list[SampleRecord]:
    sample = SampleRecord(target="f", t=0.0, phase=Phase.FAULT, outcome=outcome, latency_ms=latency_s * 1000)
    return [sample] * n


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


# --- rules v3: cascade (collateral, persistence), the control, data-loss coverage -----------------


def v3(**overrides: object) -> Observations:
    """objectstore is slow; storage.upload needs it, auth.login has no path to it at all."""
    base: dict[str, object] = dict(
        target="objectstore",
        broken=frozenset({"storage.upload"}),
        apart=frozenset({"auth.login"}),
        on_path=frozenset({"objectstore", "storage", "gateway"}),
        routes={"auth.login": "objectstore <- storage <- gateway -> auth.login (shared: gateway)"},
        baseline={"storage.upload": samples(SERVED, 0.050), "auth.login": samples(SERVED, 0.040)},
        during={
            "storage.upload": samples(ProbeOutcome.REJECTED, 0.010),
            "auth.login": samples(SERVED, 0.045),
        },
        health={"gateway": Health.OK, "storage": Health.OK, "auth": Health.OK},
        writers={},
        expect={},
        recovery_s=1.0,
        recovery_target_s=5.0,
        recovery_timeout_s=60.0,
    )
    base.update(overrides)
    return Observations(**base)  # type: ignore[arg-type]


def test_a_feature_apart_from_the_fault_failing_is_a_full_cascade_with_its_path() -> None:
    hung = samples(SERVED, 0.040, 50) + samples(ProbeOutcome.HANG, 2.0, 50)
    result = score(v3(during={"storage.upload": samples(ProbeOutcome.REJECTED, 0.01), "auth.login": hung}))
    assert result.cascade_label is Label.YES and result.components["cascade"] == 0.0
    (harm,) = result.cascade_paths
    assert (harm.kind, harm.name, harm.severity.value) == ("collateral-feature", "auth.login", "unhealthy")
    assert "shared: gateway" in harm.path


def test_only_slower_apart_from_the_fault_is_a_partial_cascade_and_void_on_a_saturated_machine() -> None:
    slow = {"storage.upload": samples(ProbeOutcome.REJECTED, 0.01), "auth.login": samples(SERVED, 0.600)}
    partial = score(v3(during=slow))
    assert (partial.cascade_label, partial.components["cascade"]) == (Label.PARTIAL, 0.5)
    void = score(v3(during=slow, saturated=True))
    assert void.cascade_label is Label.INCONCLUSIVE and void.components["cascade"] is None
    assert "cascade" not in void.weights and void.inconclusive == ("auth.login",)
    assert void.isolation_label is Label.INCONCLUSIVE  # the same feature is the only must-survive one


def test_failed_requests_are_never_excused_by_a_saturated_machine() -> None:
    failing = samples(SERVED, 0.04, 50) + samples(ProbeOutcome.ERROR, 0.04, 50)
    result = score(v3(during={"storage.upload": [], "auth.login": failing}, saturated=True))
    assert result.cascade_label is Label.YES and result.isolation_label is Label.NO
    assert result.inconclusive == ()


def test_a_hang_on_a_badly_saturated_machine_is_latency_not_a_failure() -> None:
    """Two busy loops on two cores: the control took a second, so a probe with no answer in 2 s says
    nothing about the target. The same hangs on a quiet machine are a cascade, and so they are on a
    machine whose control only doubled (80 ms explains no 2 s hang)."""
    hung = samples(SERVED, 0.040, 90) + samples(ProbeOutcome.HANG, 2.1, 10)
    during = {"storage.upload": samples(ProbeOutcome.HANG, 2.1), "auth.login": hung}
    quiet = score(v3(during=during))
    assert quiet.cascade_label is Label.YES and quiet.isolation_label is Label.NO
    mild = score(v3(during=during, saturated=True))
    assert mild.cascade_label is Label.YES and mild.behaviour_match == 0.0
    busy = score(v3(during=during, saturated=True, hangs_void=True))
    assert busy.cascade_label is Label.INCONCLUSIVE and busy.isolation_label is Label.INCONCLUSIVE
    # the broken feature only hung: how it failed is not known either
    assert busy.behaviour_match is None and busy.inconclusive == ("auth.login", "storage.upload")


def test_not_back_while_the_control_is_still_slow_is_inconclusive_not_persistence() -> None:
    busy = score(v3(recovery_s=None, not_recovered=("storage.upload",), recovery_saturated=True))
    assert busy.cascade_label is Label.INCONCLUSIVE and busy.recovery is None
    assert "recovery" not in busy.weights and busy.inconclusive == ("storage.upload",)


def test_a_caller_slowed_by_carrying_the_fault_is_not_a_spread_but_a_process_down_is() -> None:
    carrying = score(v3(health={"gateway": Health.DEGRADED, "storage": Health.DEGRADED, "auth": Health.OK}))
    assert carrying.cascade_label is Label.NO
    elsewhere = score(v3(health={"gateway": Health.OK, "storage": Health.OK, "auth": Health.DEGRADED}))
    assert elsewhere.cascade_label is Label.PARTIAL and elsewhere.cascaded == ("auth",)
    down = score(v3(health={"gateway": Health.DOWN, "storage": Health.OK, "auth": Health.OK}))
    assert down.cascade_label is Label.YES and down.cascade_paths[0].severity.value == "down"


def test_not_back_after_the_timeout_is_a_cascade_by_persistence() -> None:
    result = score(v3(recovery_s=None, not_recovered=("storage.upload",), restarted=("storage",)))
    assert result.cascade_label is Label.YES and result.recovery == 0.0
    (harm,) = result.cascade_paths
    assert (harm.kind, harm.severity.value) == ("persistence", "restarted")


def test_data_loss_is_na_when_no_write_was_attempted_during_the_fault() -> None:
    clean = WriterCounts.check(attempted={"a", "b"}, acknowledged={"a", "b"}, read_back={"a", "b"})
    covers = {"storage.files": frozenset({"storage.upload"})}
    before_only = score(
        v3(writers={"storage.files": clean}, writer_covers=covers, fault_writes={"storage.files": 0})
    )
    assert before_only.data_label is Label.NA and "during the fault" in before_only.data_reason
    during = score(
        v3(writers={"storage.files": clean}, writer_covers=covers, fault_writes={"storage.files": 2})
    )
    assert during.data_label is Label.NO and during.data == 1.0


def test_a_read_back_that_cannot_see_is_not_a_loss() -> None:
    blind = WriterCounts.check(attempted={"a", "b"}, acknowledged={"a", "b"}, read_back=set())
    result = score(
        v3(
            writers={"orders": blind},
            writer_covers={"orders": frozenset({"storage.upload"})},
            fault_writes={"orders": 2},
            cannot_tell={"orders": "$.ref[*] matched nothing"},
        )
    )
    assert result.data_label is Label.NA and "cannot tell" in result.data_reason
    lost = score(
        v3(
            writers={"orders": blind},
            writer_covers={"orders": frozenset({"storage.upload"})},
            fault_writes={"orders": 2},
        )
    )
    assert lost.data_label is Label.YES and "lost 2 of 2" in lost.data_reason


def test_a_fault_the_harness_fell_short_of_leaves_fail_behaviour_inconclusive_not_failed() -> None:
    """A flood that could not keep its rate on a saturated machine: how the broken feature failed rests
    on a fault that was not fully there; containment, data and recovery still stand."""
    served = {"auth.login": samples(SERVED, 0.010), "chat.history": samples(SERVED, 0.020)}
    full = score(observations(during=served))
    assert full.behaviour_match is not None and full.mismatches == ("auth.login",)
    short = score(observations(during=served, short=True))
    assert short.behaviour_match is None and "fail_behaviour" not in short.weights
    assert short.mismatches == () and short.inconclusive == ("auth.login",)
    assert short.behaviour == {"auth.login": FailBehaviour.FAIL_OPEN}  # still shown
    assert short.isolation_label is Label.YES and short.data_label is Label.NO
