"""A scenario with Locust load, end to end on the session stack: figures per phase land in result.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosgate.harness import Harness
from chaosgate.runner import RunSettings
from chaosgate.scenario.loader import load_scenarios
from chaosgate.stack.launcher import LocalStack

SCENARIO = """\
name: redis-down-under-load
title: Redis goes down while users chat
target: redis
faults:
  - injector: toxiproxy
    proxy: redis
    down: true
    duration: 10s
workload:
  load: {users: 5, spawn_rate: 5}
recovery: {target: 5s, timeout: 30s}
"""


@pytest.mark.timeout(180)
def test_load_figures_per_phase_reach_result_json(local_stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "redis-down-under-load.yaml"
    path.write_text(SCENARIO)
    scenarios = load_scenarios([path], local_stack.topology)
    harness = Harness(
        topology=local_stack.topology,
        stack=local_stack,
        out_root=tmp_path / "reports",
        settings=RunSettings(time_scale=0.3),
    )

    run = harness.run(scenarios)

    saved = json.loads((tmp_path / "reports" / run.run_id / "result.json").read_text())
    load = saved["scenarios"][0]["load"]
    assert load is not None, saved["scenarios"][0]["message"]
    assert [p["phase"] for p in load["phases"]] == ["baseline", "fault", "recovery"], load
    for phase in load["phases"]:
        assert phase["rps"] > 0, phase
        assert phase["endpoints"], phase
    sends = load["totals"].get("POST /v1/chat/conversations/[id]/messages")
    assert sends is not None, sorted(load["totals"])
    assert sends["requests"] > 0 and sends["p95_ms"] is not None
    assert any(p["p95_ms"] for p in load["phases"][0]["endpoints"].values())
    assert list(Path(tmp_path / "reports" / run.run_id).glob("locust-*/locust_stats_history.csv"))
