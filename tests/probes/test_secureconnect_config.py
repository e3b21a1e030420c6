"""SecureConnect as chaos.yaml now names it (probes.plugin, probes.degraded_header, its writers and
locustfile), end to end on the session stack: its redis-down scenario sees the degraded marker, and
its plugin's ledger writers are measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.harness import Harness
from chaosgate.runner import RunSettings
from chaosgate.scenario.loader import load_scenarios
from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_redis_down_on_secureconnect_is_degraded_by_its_named_header_and_loses_nothing(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    scenarios = load_scenarios([ROOT / "scenarios" / "redis-down.yaml"], local_stack.topology)
    harness = Harness(
        topology=local_stack.topology,
        stack=local_stack,
        out_root=tmp_path,
        settings=RunSettings(time_scale=0.3, capacity_rps=60.0),  # calibration has tests of its own
    )

    run = harness.run(scenarios)

    (scenario,) = run.scenarios
    assert scenario.status == "completed", scenario.message
    assert scenario.score is not None
    shares = scenario.score.behaviour_shares
    assert shares["auth.login"].get("degraded", 0) > 0.5, shares  # X-SecureConnect-Degraded, from chaos.yaml
    assert set(scenario.writers) >= {"chat.messages", "poll.votes", "sessions"}  # the plugin's writers
    assert scenario.writers["chat.messages"].acknowledged > 0
    assert all(w.lost == 0 for w in scenario.writers.values() if not w.ephemeral), scenario.writers
    assert scenario.score.data_label != "n/a"
