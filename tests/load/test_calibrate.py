"""Calibration against real loopback servers: it finds a known capacity, refuses a dead host, and its
cache gives a recent measurement back (and forgets an old one)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from load_support import free_port, serve

from chaosgate.errors import RunError
from chaosgate.load.calibrate import calibrate, load_cached, store
from chaosgate.load.process import LOCUSTFILE
from chaosgate.result import CapacityRecord, CapacityStep

SERIAL_WORK_S = 0.02  # one request at a time, 20 ms each: 50 requests/s at most


@pytest.mark.timeout(60)
async def test_calibration_finds_the_capacity_of_a_server_that_serves_fifty_a_second(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAOSGATE_LOAD_PATH", "/serial")
    with serve(serial_work_s=SERIAL_WORK_S) as (host, _):
        record = await calibrate(
            locustfile=LOCUSTFILE,
            host=host,
            out_dir=tmp_path,
            users=4,
            workers=0,
            steps=[10, 25, 40, 55, 70, 100],
            step_s=2.5,
            request_timeout_s=2,
            profile="test",
            fraction=0.5,
            lead_in_s=4,
        )

    print(record.model_dump_json(indent=1))  # the figures, for whoever reads the test log
    assert 25 <= record.rps <= 70, record  # 50/s, within a sane factor
    assert record.target_rps == pytest.approx(record.rps * 0.5)
    assert record.steps[0].within_bounds and not record.steps[-1].within_bounds, record.steps
    assert record.steps[-1].offered_rps < 100, "the schedule stops at the first step out of bounds"
    assert not record.reused and record.profile == "test" and "p95" in record.bound


@pytest.mark.timeout(40)
async def test_calibration_refuses_a_host_that_takes_no_load(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(RunError, match="could not take even 5 requests/s"):
        await calibrate(
            locustfile=LOCUSTFILE,
            host=dead,
            out_dir=tmp_path,
            users=2,
            workers=0,
            steps=[5, 10],
            step_s=2,
            request_timeout_s=1,
            profile="test",
            fraction=0.5,
            lead_in_s=4,
        )


def _record(measured_at: float) -> CapacityRecord:
    step = CapacityStep(offered_rps=40, achieved_rps=40, p95_ms=30.0, failure_rate=0.0, within_bounds=True)
    return CapacityRecord(
        rps=40,
        fraction=0.5,
        target_rps=20,
        profile="hardened",
        measured_at=measured_at,
        reused=False,
        bound="p95 ≤ 280 ms",
        steps=[step],
    )


def test_a_recent_calibration_is_reused_for_the_same_key_only(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "capacity.json"
    store(cache, "local|hardened|", _record(time.time()))

    reused = load_cached(cache, key="local|hardened|", max_age_s=600)

    assert reused is not None and reused.reused and reused.rps == 40 and reused.steps
    assert load_cached(cache, key="local|baseline|", max_age_s=600) is None
    assert json.loads(cache.read_text())["local|hardened|"]["reused"] is False


def test_an_old_or_damaged_calibration_is_measured_again(tmp_path: Path) -> None:
    cache = tmp_path / "capacity.json"
    store(cache, "old", _record(time.time() - 3600))
    store(cache, "new", _record(time.time()))

    assert load_cached(cache, key="old", max_age_s=600) is None
    assert load_cached(cache, key="new", max_age_s=600) is not None  # storing one kept the other
    cache.write_text("{not json")
    assert load_cached(cache, key="new", max_age_s=600) is None
    assert load_cached(tmp_path / "missing.json", key="new", max_age_s=600) is None
