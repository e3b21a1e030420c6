"""Fixtures for the report tests: two real result files of ours (trimmed), copied into a fresh out dir.

data/20261122-214145-4885  profile baseline, 7 scenarios completed, gate PASS
data/20261122-213103-3d46  profile hardened, redis-down ended in error, gate FAIL
data/20261201-101502-5c1a  scoring rules v2: the baseline run above rescored by hand with n/a dimensions
                           (cockroach isolation, service-crash data), time shares, open-loop load against a
                           reused capacity, push-outage added, and the seed claims (Claims.compare) beside it
data/20261212-093000-7c3e  scoring rules v3: four of the v2 run's scenarios given the v3 fields by hand and
                           the gate re-evaluated (min 80, cascade=no, data_loss=none): cassandra-slow
                           cascades (auth.login unhealthy through the gateway, chat.history back only after a
                           restart), amplifies load on its link and loses 12 of 40 acknowledged messages (12
                           of 18 in the fault); websocket-flood judged on a saturated machine (control p95
                           4.1 -> 61 ms): isolation and cascade inconclusive; service-crash's read-back
                           cannot tell (a path matching nothing); push-outage loses 6 of 40 notifications
data/junit-10.xsd          the Surefire JUnit schema, from pytest's sdist (testing/example_scripts)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaosgate.result import RunResult

DATA = Path(__file__).parent / "data"
BASELINE_ID = "20261122-214145-4885"
HARDENED_ID = "20261122-213103-3d46"
V2_ID = "20261201-101502-5c1a"
V3_ID = "20261212-093000-7c3e"


def load(run_id: str) -> RunResult:
    return RunResult.model_validate_json((DATA / run_id / "result.json").read_text(encoding="utf-8"))


@pytest.fixture
def baseline() -> RunResult:
    return load(BASELINE_ID)


@pytest.fixture
def hardened() -> RunResult:
    return load(HARDENED_ID)


@pytest.fixture
def v2() -> RunResult:
    return load(V2_ID)


@pytest.fixture
def v3() -> RunResult:
    return load(V3_ID)


@pytest.fixture
def runs_out(tmp_path: Path) -> Path:
    """An out dir holding both runs, as `chaosgate run` leaves them."""
    out = tmp_path / "reports"
    for run_id in (BASELINE_ID, HARDENED_ID):
        (out / run_id).mkdir(parents=True)
        shutil.copy(DATA / run_id / "result.json", out / run_id / "result.json")
    return out
