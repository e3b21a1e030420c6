"""The push-provider simulator on the local stack: the FCM-style send, its record, and each failure mode."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_push_support import SEND_PATH, Simulator, simulator_of

from chaosgate.stack.launcher import LocalStack


@pytest.fixture
def simulator(running_stack: LocalStack) -> Iterator[Simulator]:
    with simulator_of(running_stack) as sim:
        yield sim


def test_a_send_needs_the_server_key_and_is_recorded_with_its_data(simulator: Simulator) -> None:
    body = {"message": {"token": "t", "notification": {"title": "x"}, "data": {"k": "v"}}}
    assert simulator.http.post(SEND_PATH, json=body).status_code == 401
    wrong = simulator.http.post(SEND_PATH, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["status"] == "UNAUTHENTICATED"

    since = simulator.last_seq()
    marker = uuid.uuid4().hex
    answer = simulator.send("device-a", {"message_id": marker})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"].startswith("projects/secureconnect/messages/")

    [entry] = simulator.received(since)
    assert entry["outcome"] == "delivered" and entry["token"] == "device-a"
    assert entry["data"] == {"message_id": marker} and entry["name"] == answer.json()["name"]


def test_malformed_sends_are_rejected_fcm_style(simulator: Simulator) -> None:
    headers = {"Authorization": "Bearer secureconnect-push-server-key"}
    no_token = simulator.http.post(SEND_PATH, json={"message": {"data": {}}}, headers=headers)
    assert no_token.status_code == 400 and no_token.json()["error"]["status"] == "INVALID_ARGUMENT"
    numbers = simulator.send("device-a", {"n": 1})  # type: ignore[dict-item]
    assert numbers.status_code == 400


def test_unknown_modes_are_refused_and_the_mode_reads_back(simulator: Simulator) -> None:
    refused = simulator.http.post("/control/mode", json={"mode": "explode"})
    assert refused.status_code == 400 and "valid" in refused.json()["error"]["message"]
    assert simulator.http.post("/control/mode", json={"mode": "slow"}).status_code == 400  # no delay
    simulator.mode("429", retry_after_s=7)
    assert simulator.http.get("/control/mode").json() == {
        "mode": "429",
        "delay_ms": 0,
        "retry_after_s": 7,
        "layers": [""],
    }


def test_modes_set_under_fault_ids_compose_and_come_off_one_by_one(simulator: Simulator) -> None:
    def mode() -> str:
        return str(simulator.http.get("/control/mode").json()["mode"])

    simulator.mode("ok")
    assert simulator.http.post("/control/mode", json={"mode": "503", "id": "a"}).status_code == 200
    assert simulator.http.post("/control/mode", json={"mode": "slow", "delay_ms": 50, "id": "b"}).is_success
    assert mode() == "slow"  # the newest layer answers
    assert simulator.http.delete("/control/mode/a").is_success
    assert mode() == "slow", "removing the 503 must not end the slow fault"
    assert simulator.http.delete("/control/mode/a").is_success  # idempotent
    assert simulator.http.delete("/control/mode/b").is_success
    assert mode() == "ok"
    refused = simulator.http.post("/control/mode", json={"mode": "503", "id": ""})
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("mode", "params", "status", "error_code", "outcome"),
    [
        ("503", {}, 503, "UNAVAILABLE", "unavailable"),
        ("429", {"retry_after_s": 2}, 429, "QUOTA_EXCEEDED", "rate_limited"),
        ("invalid-tokens", {}, 404, "UNREGISTERED", "unregistered"),
    ],
)
def test_each_failure_mode_answers_like_fcm_and_records_the_attempt(
    simulator: Simulator, mode: str, params: dict[str, int], status: int, error_code: str, outcome: str
) -> None:
    since = simulator.last_seq()
    simulator.mode(mode, **params)
    answer = simulator.send("device-b", {"message_id": "m1"})
    assert answer.status_code == status
    assert answer.json()["error"]["details"][0]["errorCode"] == error_code
    if mode == "429":
        assert answer.headers["retry-after"] == "2"
    assert [e["outcome"] for e in simulator.received(since)] == [outcome]
    assert simulator.received(since, outcome="delivered") == []

    simulator.mode("ok")
    assert simulator.send("device-b").status_code == 200


def test_tokens_named_invalid_are_unregistered_even_when_ok(simulator: Simulator) -> None:
    answer = simulator.send("invalid-device")
    assert answer.status_code == 404
    assert answer.json()["error"]["details"][0]["errorCode"] == "UNREGISTERED"


def test_slow_mode_delays_the_answer_and_notes_callers_that_hang_up(simulator: Simulator) -> None:
    simulator.mode("slow", delay_ms=800)
    started = time.monotonic()
    assert simulator.send("device-c").status_code == 200
    assert time.monotonic() - started >= 0.75

    since = simulator.last_seq()
    with pytest.raises(httpx.TimeoutException):
        simulator.send("device-c", timeout=0.2)
    time.sleep(1.0)
    assert [e["outcome"] for e in simulator.received(since)] == ["abandoned"]
