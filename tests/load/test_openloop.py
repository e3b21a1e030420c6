"""Open-loop load against a real loopback server: arrivals keep coming when the backend turns slow."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from load_support import serve

from chaosgate.load.plan import LoadPlan
from chaosgate.load.process import LOCUSTFILE
from chaosgate.load.session import LoadSession
from chaosgate.result import LoadRecord, ScenarioResult

ROOT = Path(__file__).resolve().parents[2]
RATE, LATENCY_S, USERS = 20.0, 1.0, 4


def _result() -> ScenarioResult:
    return ScenarioResult(
        name="slow-backend", title="t", target="backend", weight=1, status="completed", started_at=time.time()
    )


async def _run(plan: LoadPlan, host: str, out_dir: Path, seconds: float) -> tuple[LoadRecord, LoadSession]:
    """Steady load for `seconds`, the middle third standing in for a fault window."""
    result = _result()
    session = LoadSession(plan, result, host=host, out_dir=out_dir, workers=0, expected_s=seconds)
    async with session:
        await session.begin()
        steady = session.begin_steady() - result.started_at
        result.fault_window = (steady + seconds / 3, steady + 2 * seconds / 3)
        await asyncio.sleep(seconds)
    assert result.load is not None
    return result.load, session


def _slow_plan(monkeypatch: pytest.MonkeyPatch, max_in_flight: int) -> LoadPlan:
    monkeypatch.setenv("CHAOSGATE_LOAD_PATH", f"/slow?ms={int(LATENCY_S * 1000)}")
    return LoadPlan(
        locustfile=LOCUSTFILE, users=USERS, rate_rps=RATE, max_in_flight=max_in_flight, request_timeout_s=5
    )


# It measures the rate Locust sustains on this machine: beside three xdist workers a fresh clone's run got
# 10.5 of 20 arrivals/s in the fault window (the machine, not the open loop), so it runs alone.
@pytest.mark.alone
@pytest.mark.timeout(60)
async def test_arrivals_keep_coming_while_every_answer_takes_a_second(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = _slow_plan(monkeypatch, max_in_flight=100)
    with serve() as (host, server):
        load, session = await _run(plan, host, tmp_path, seconds=6)

    # A closed loop of 4 users would manage 4 requests/s at 1 s each; open loop keeps the offered 20/s.
    gauge = session.locust.gauges()[0]
    assert gauge["arrivals"] >= 0.75 * RATE * 6, gauge
    assert load.mode == "open-loop" and load.target_rps == RATE and load.max_in_flight == 100
    fault = next(p for p in load.phases if p.phase == "fault")
    assert fault.rps > 3 * USERS / LATENCY_S, fault
    # Little's law: in flight = rate × latency ≈ 20, seen by Locust's figures and by the server itself.
    assert fault.in_flight is not None and 0.6 * RATE <= fault.in_flight <= 1.4 * RATE, fault
    assert 0.6 * RATE <= server.peak_in_flight <= 100, server
    assert all(p.failures == 0 for p in load.phases), load.phases
    assert load.harness_cpu_share is not None and 0 < load.harness_cpu_share < 1


@pytest.mark.timeout(60)
async def test_arrivals_beyond_the_in_flight_cap_fail_at_once_instead_of_queueing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = _slow_plan(monkeypatch, max_in_flight=8)
    with serve() as (host, server):
        load, session = await _run(plan, host, tmp_path, seconds=4)

    assert server.peak_in_flight <= 8, server
    overload = load.totals.get("OPENLOOP overload: in-flight cap")
    assert overload is not None and overload.failures > 0, sorted(load.totals)
    # About 8 of the 20 arrivals a second fit under the cap; the rest are refused, not queued.
    assert overload.failures >= 0.3 * RATE * 4, overload
    assert session.locust.gauges()[0]["peak_in_flight"] == 8


@pytest.mark.timeout(30)
def test_secureconnect_locustfile_loads_in_locust() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "target_system/load/locustfile.py"), "--list"],
        capture_output=True,
        text=True,
        timeout=25,
        cwd=ROOT,
    )
    assert listed.returncode == 0, listed.stderr
    assert "SecureConnectUser" in listed.stdout, listed.stdout
