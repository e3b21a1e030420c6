"""Every shipped scenario end to end on the local runtime, on both profiles (durations shortened, the
load as chaos.yaml sizes it): each completes under load in every window, leaves nothing broken, the
hardened stack scores higher wherever its switches act, and each dimension of the rules v3 reads bad
on the unfixed stack by a real mechanism (a cascade, acknowledged writes lost, a recovery that never
comes) and good on the hardened one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaosgate.api import applicable
from chaosgate.config import load_topology
from chaosgate.faults import FaultLedger
from chaosgate.harness import Harness
from chaosgate.result import CascadeKind, RunResult, ScenarioResult
from chaosgate.runner import RunSettings
from chaosgate.scenario.loader import load_scenarios
from chaosgate.scoring import Label
from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "chaos.yaml")
# The shipped scenarios that run on the local runtime (container faults run on compose: tests/compose).
SCENARIOS = [
    path
    for path in sorted((ROOT / "scenarios").glob("*.yaml"))
    if applicable(load_scenarios([path]), "local")
]
# The baseline runs where each dimension of the rules v3 reads bad by a real mechanism (a cascade
# through the gateway's shared pool, acknowledged writes lost twice, a recovery that never comes),
# and where hardening must score higher. The other scenarios' fixes are measured by bench/gate.py's
# switch matrix (each switch off alone, three hardened repetitions), too long for this suite.
HARDENING_HELPS = {"backend-slow", "cassandra-down", "push-outage", "redis-down"}
CAPACITY_RPS = 500.0
# redis-down with no writer of its own: only the sessions opened before the fault (ephemeral, stopped
# before it) wrote, so no write was attempted during the fault and data loss is not measured.
NO_FAULT_WRITES = "redis-down-no-writes"


# The module's fixture runs every scenario (and NO_FAULT_WRITES) on the hardened profile and the
# HARDENING_HELPS ones on the baseline (about 20 short scenarios, 6 minutes): the first test that asks
# for it carries that time.
# Verdicts under load that must not share the cores: scripts/test runs this module alone, last.
pytestmark = [pytest.mark.timeout(900), pytest.mark.alone]


@pytest.fixture(scope="module")
def runs(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunResult]]:
    scenarios = load_scenarios(SCENARIOS, local_stack.topology)
    before = (local_stack.profile, dict(local_stack.switches), dict(local_stack.service_env))
    results: dict[str, RunResult] = {}
    # Pinned rather than calibrated: calibrations of this stack in a busy suite measured 400 or 500
    # req/s; pinned, every run of the suite meets the same 200 req/s (chaos.yaml's fraction 0.4).
    capacity: float | None = CAPACITY_RPS
    try:
        quiet = next(s for s in scenarios if s.name == "redis-down")
        quiet = quiet.model_copy(
            update={"name": NO_FAULT_WRITES, "workload": quiet.workload.model_copy(update={"writers": []})}
        )
        for profile in ("hardened", "baseline"):
            local_stack.restart_services(profile=profile, switches={}, env={})
            # Both profiles meet the same traffic (as bench/gate.py's switch runs do).
            harness = Harness(
                topology=local_stack.topology,
                stack=local_stack,
                out_root=tmp_path_factory.mktemp(profile),
                settings=RunSettings(time_scale=0.3, capacity_rps=capacity),
            )
            # The baseline is compared on the scenarios where hardening shows (HARDENING_HELPS) only.
            chosen = (
                [*scenarios, quiet]
                if profile == "hardened"
                else [s for s in scenarios if s.name in HARDENING_HELPS]
            )
            results[profile] = harness.run(chosen)
        yield results
    finally:
        local_stack.restart_services(profile=before[0], switches=before[1], env=before[2])


def by_name(result: RunResult) -> dict[str, ScenarioResult]:
    return {s.name: s for s in result.scenarios}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_completes_on_the_hardened_stack_as_it_expects(
    runs: dict[str, RunResult], path: Path
) -> None:
    scenario = by_name(runs["hardened"])[path.stem]
    assert scenario.status == "completed", scenario.message
    assert scenario.score is not None
    faults = {event for fault in scenario.faults for event, _, _ in fault.events}
    assert {"applying", "applied", "verified", "removed"} <= faults
    assert scenario.recovery_s is not None, "the hardened stack recovers within the timeout"
    # Hardened, every acknowledged write survives (push keeps refused notifications in its outbox).
    durable = {n: w for n, w in scenario.writers.items() if not w.ephemeral}
    assert all(w.lost == 0 for w in durable.values()), scenario.writers
    match = scenario.score.behaviour_match
    assert match is None or match >= 0.5, (scenario.score.behaviour_shares, scenario.score.expected)


@pytest.mark.parametrize("profile", ["hardened", "baseline"])
def test_load_runs_in_every_window_of_every_scenario(runs: dict[str, RunResult], profile: str) -> None:
    result = runs[profile]
    assert result.capacity is not None and result.capacity.rps > 0
    assert result.capacity.target_rps == pytest.approx(
        result.capacity.rps * result.capacity.fraction, abs=0.1
    )
    fractions = {s.name: s.workload.load.fraction for s in load_scenarios(SCENARIOS) if s.workload.load}
    for scenario in result.scenarios:
        assert scenario.load is not None, scenario.name
        assert scenario.load.mode == "open-loop"
        # a scenario may size its own load (websocket-flood: the flood is its load)
        own = fractions.get(scenario.name)
        expected = result.capacity.rps * own if own is not None else result.capacity.target_rps
        assert scenario.load.target_rps == pytest.approx(expected, abs=0.1), scenario.name
        phases = {p.phase: p for p in scenario.load.phases}
        assert set(phases) == {"baseline", "fault", "recovery"}, (scenario.name, phases)
        for phase in phases.values():
            # open loop: arrivals keep their rate whatever the stack does (answered or not); a phase
            # shorter than two seconds (a quick recovery) may hold no complete row of Locust's
            # once-a-second history, so no request is counted in it
            if phase.end - phase.start >= 2.0:
                assert phase.requests > 0, (scenario.name, phase)


@pytest.mark.parametrize("name", sorted(HARDENING_HELPS))
def test_hardening_scores_higher_than_baseline(runs: dict[str, RunResult], name: str) -> None:
    hardened, baseline = by_name(runs["hardened"])[name], by_name(runs["baseline"])[name]
    assert hardened.score is not None
    baseline_readiness = baseline.score.readiness if baseline.score else 0.0
    if hardened.control is not None and hardened.control.saturated:
        # The product rule: a verdict taken on a saturated machine proves nothing either way.
        pytest.skip(f"{name}: hardened run on a saturated machine: {hardened.control.reason}")
    assert hardened.score.readiness > baseline_readiness, (
        hardened.score.unhealthy_unaffected,
        hardened.score.components,
        hardened.control,
        baseline.score,
        baseline.message,
    )


def test_runs_leave_nothing_broken_and_write_their_results(
    runs: dict[str, RunResult], local_stack: LocalStack
) -> None:
    proxies = httpx.get(f"{local_stack.proxy_api_url}/proxies", timeout=5).json()
    assert all(p["enabled"] and not p["toxics"] for p in proxies.values())
    assert FaultLedger(local_stack.run_dir / "fault-ledger.jsonl").active() == []
    expected = {"hardened": {p.stem for p in SCENARIOS} | {NO_FAULT_WRITES}, "baseline": HARDENING_HELPS}
    for profile, result in runs.items():
        assert result.gate is not None and result.overall is not None
        assert {s.name for s in result.scenarios} == expected[profile]
        assert result.backends["cockroachdb"].startswith("PostgreSQL")


def test_a_real_cascade_is_detected_on_the_baseline_and_absent_on_hardened(
    runs: dict[str, RunResult],
) -> None:
    """backend-slow: unfixed, chat's held requests fill the gateway's one shared upstream pool and
    features that need nothing from chat (auth, video, storage) queue behind them."""
    baseline = by_name(runs["baseline"])["backend-slow"].score
    hardened = by_name(runs["hardened"])["backend-slow"].score
    assert baseline is not None and hardened is not None
    assert baseline.cascade_label in (Label.YES, Label.PARTIAL), baseline
    collateral = [p for p in baseline.cascade_paths if p.kind == CascadeKind.FEATURE]
    assert collateral, baseline.cascade_paths
    assert all(
        "chat" not in TOPOLOGY.feature_dependencies(p.name) for p in collateral if p.name in TOPOLOGY.features
    )
    assert hardened.cascade_label == Label.NO, hardened.cascade_paths
    amplified = {row.link for row in baseline.amplification}
    assert "chat" in amplified, baseline.amplification  # the faulted link's traffic is shown


@pytest.mark.parametrize(
    ("name", "writer"), [("push-outage", "push.notifications"), ("cassandra-down", "chat.messages")]
)
def test_acknowledged_writes_really_lost_are_counted(
    runs: dict[str, RunResult], name: str, writer: str
) -> None:
    """Unfixed push drops what the provider refuses; unfixed chat acknowledges before it persists.
    Hardened (an outbox; persist first) loses nothing of what it acknowledged."""
    baseline, hardened = by_name(runs["baseline"])[name], by_name(runs["hardened"])[name]
    lost = baseline.writers[writer]
    assert lost.lost > 0 and len(lost.lost_ids) == min(lost.lost, 1000), lost
    assert lost.phases["fault"].attempted > 0 and sum(p.lost for p in lost.phases.values()) == lost.lost
    assert baseline.score is not None and baseline.score.data_label == Label.YES
    assert f"lost {lost.lost} of {lost.acknowledged}" in baseline.score.data_reason
    kept = hardened.writers[writer]
    assert kept.lost == 0 and kept.phases["fault"].attempted > 0, kept
    assert hardened.score is not None and hardened.score.data_label == Label.NO


def test_a_recovery_that_never_comes_by_itself_is_seen(runs: dict[str, RunResult]) -> None:
    """redis-down: unfixed, chat's pub/sub reader dies with the connection and is never re-established,
    so live delivery stays broken after Redis is back, until the harness restarts chat."""
    baseline, hardened = by_name(runs["baseline"])["redis-down"], by_name(runs["hardened"])["redis-down"]
    assert baseline.recovery_s is None and baseline.score is not None
    assert baseline.score.not_recovered and "chat" in baseline.restarted, (
        baseline.message,
        baseline.restarted,
    )
    assert baseline.score.recovery == 0.0
    persistence = [p for p in baseline.score.cascade_paths if p.kind == CascadeKind.PERSISTENCE]
    assert persistence and baseline.score.cascade_label == Label.YES
    assert hardened.recovery_s is not None and not hardened.restarted


def test_data_loss_is_not_measured_without_a_write_during_the_fault(runs: dict[str, RunResult]) -> None:
    scenario = by_name(runs["hardened"])[NO_FAULT_WRITES]
    assert scenario.score is not None
    sessions = scenario.writers["sessions"]
    assert sessions.phases["before"].acknowledged > 0 and sessions.phases["fault"].attempted == 0
    assert scenario.score.data_label == Label.NA and scenario.score.data is None
    assert "data" not in scenario.score.weights  # left out of the readiness, not a perfect score
