"""Load declared in chaos.yaml (`load.requests`), run by chaosgate's generic locustfile against a real
loopback server: each user's setup opens its own session, requests carry its token and what earlier
requests captured, weights shape the mix, unexpected answers are failures, and calibration measures
the capacity of declared load as it does for a locustfile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from load_support import serve

from chaosgate.load.calibrate import calibrate
from chaosgate.load.definition import REQUESTS_LOCUSTFILE, load_definition
from chaosgate.load.plan import LoadPlan
from chaosgate.load.session import LoadSession
from chaosgate.result import ScenarioResult
from chaosgate.topology import LoadSettings

AUTH = {"Authorization": "Bearer ${token}"}
USERS, RATE, SECONDS = 2, 30.0, 5.0

LOAD: dict[str, Any] = {
    "setup": [
        {
            "method": "POST",
            "path": "/sessions",
            "json": {"user": "load-${uuid}"},
            "expect_status": [201],
            "capture": {"token": "$.token"},
        },
        {
            "method": "POST",
            "path": "/items",
            "headers": AUTH,
            "expect_status": [201],
            "capture": {"item_id": "$.item.id"},
        },
    ],
    "requests": [
        {
            "method": "POST",
            "path": "/items",
            "headers": AUTH,
            "json": {"n": "${uuid}"},
            "expect_status": [201],
            "capture": {"item_id": "$.item.id"},
            "weight": 2,
        },
        {"path": "/items/${item_id}", "headers": AUTH, "name": "/items/[id]", "weight": 6},
        {"path": "/items/none-such", "headers": AUTH, "name": "missing", "expect_status": [200], "weight": 1},
    ],
}


def definition_of(tmp_path: Path, load: dict[str, Any]) -> Any:
    spec = LoadSettings.model_validate(load)
    return load_definition(spec, config_dir=tmp_path, state_dir=tmp_path / "state")


@pytest.mark.timeout(90)
async def test_declared_requests_run_open_loop_with_each_users_session_and_captures(tmp_path: Path) -> None:
    definition = definition_of(tmp_path, LOAD)
    assert definition.locustfile == REQUESTS_LOCUSTFILE
    plan = LoadPlan(
        locustfile=definition.locustfile,
        definition_env=definition.environment,
        users=USERS,
        rate_rps=RATE,
        max_in_flight=60,
        request_timeout_s=2,
    )
    result = ScenarioResult(
        name="declared", title="t", target="api", weight=1, status="completed", started_at=time.time()
    )
    with serve() as (host, server):
        session = LoadSession(
            plan, result, host=host, out_dir=tmp_path / "locust", workers=0, expected_s=SECONDS
        )
        async with session:
            await session.begin()
            session.begin_steady()
            await asyncio.sleep(SECONDS)
    load = result.load
    assert load is not None, "the session records its figures"

    assert len(server.tokens) == USERS, "each user opened one session in its setup"
    assert server.refused == 0, "every item request carried its user's token"
    reads = [r for r in server.read if r != "none-such"]
    assert reads and set(reads) <= set(server.items), "reads ask for items that a create captured"
    assert len(set(reads)) > USERS, "ids captured by the load's own creates, not only by setup"
    totals = load.totals
    creates, gets, missing = totals["POST /items"], totals["GET /items/[id]"], totals["GET missing"]
    assert creates.failures == 0 and gets.failures == 0, totals
    assert missing.requests > 0 and missing.failures == missing.requests, "404 where 200 is expected fails"
    assert gets.requests > creates.requests - USERS, "weights shape the mix (6 reads to 2 creates)"
    total = sum(t.requests for key, t in totals.items() if key != "Aggregated")
    assert total >= 0.6 * RATE * SECONDS, totals  # open loop: the offered rate, not a closed loop's


@pytest.mark.timeout(60)
async def test_calibration_measures_the_capacity_of_declared_load(tmp_path: Path) -> None:
    definition = definition_of(tmp_path, {"requests": [{"path": "/serial"}]})
    with serve(serial_work_s=0.02) as (host, _):  # 50 requests/s at most
        record = await calibrate(
            locustfile=definition.locustfile,
            definition_env=definition.environment,
            host=host,
            out_dir=tmp_path / "calibration",
            users=4,
            workers=0,
            steps=[10, 25, 40, 70, 100],
            step_s=2.5,
            request_timeout_s=2,
            profile="test",
            fraction=0.5,
            lead_in_s=4,
        )

    assert 25 <= record.rps <= 70, record
    assert record.steps[0].within_bounds and not record.steps[-1].within_bounds, record.steps


def test_the_declared_load_file_is_named_by_its_content(tmp_path: Path) -> None:
    first, again = definition_of(tmp_path, LOAD), definition_of(tmp_path, LOAD)
    other = definition_of(tmp_path, {"requests": [{"path": "/fast"}]})
    assert first.environment == again.environment and first.fingerprint == again.fingerprint
    assert other.fingerprint != first.fingerprint  # another load: another capacity
