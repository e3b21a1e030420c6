"""A scenario under the steady open-loop load, end to end on the session stack: the load level and its
figures per phase land in result.json."""

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
  load: {fraction: 0.4}          # this scenario's own share of the capacity
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
        # A given capacity (as --capacity gives it): calibration has its own tests in this folder.
        settings=RunSettings(time_scale=0.3, capacity_rps=100.0),
    )

    run = harness.run(scenarios)

    saved = json.loads((tmp_path / "reports" / run.run_id / "result.json").read_text())
    load = saved["scenarios"][0]["load"]
    assert load is not None, saved["scenarios"][0]["message"]
    assert load["mode"] == "open-loop"
    assert (load["capacity_rps"], load["fraction"], load["target_rps"]) == (100.0, 0.4, 40.0)
    assert load["max_in_flight"] >= 40  # Little's law: the rate times the longest a request may take
    assert 0 < load["harness_cpu_share"] < 1
    assert saved["capacity"]["rps"] == 100.0 and saved["capacity"]["reused"] is True
    assert [p["phase"] for p in load["phases"]] == ["baseline", "fault", "recovery"], load
    for phase in load["phases"]:
        assert phase["rps"] > 0, phase
        assert phase["in_flight"] is not None, phase
        assert phase["endpoints"], phase
    sends = load["totals"].get("POST /v1/chat/conversations/[id]/messages")
    assert sends is not None, sorted(load["totals"])
    assert sends["requests"] > 0 and sends["p95_ms"] is not None
    assert any(p["p95_ms"] for p in load["phases"][0]["endpoints"].values())
    assert list(Path(tmp_path / "reports" / run.run_id).glob("locust-*/locust_stats_history.csv"))
