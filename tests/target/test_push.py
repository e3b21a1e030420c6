"""Push through the gateway on the local stack: devices, notifications per message, fail-open, timeouts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from test_chat_support import Account, assert_json_error, new_account, new_conversation, send
from test_push_support import Simulator, metric, register_device, simulator_of, wait_for

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def simulator(running_stack: LocalStack) -> Iterator[Simulator]:
    with simulator_of(running_stack) as sim:
        yield sim


def devices_of(gateway: httpx.Client, account: Account) -> dict[str, dict[str, Any]]:
    answer = gateway.get("/v1/push/devices", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return {d["token"]: d for d in answer.json()["devices"]}


def notified(simulator: Simulator, since: int, message_id: str, outcome: str = "delivered") -> list[str]:
    """Tokens the simulator recorded for chat message `message_id` (with `outcome`) after `since`."""
    return sorted(
        e["token"] for e in simulator.received(since, outcome) if e["data"].get("message_id") == message_id
    )


def test_devices_register_list_and_remove_for_their_owner_only(gateway: httpx.Client) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    assert_json_error(gateway.post("/v1/push/devices", json={"token": "x", "platform": "android"}), 401)
    assert_json_error(
        gateway.post("/v1/push/devices", json={"token": "x", "platform": "fax"}, headers=ada.headers), 422
    )
    token = register_device(gateway, ada)
    assert devices_of(gateway, ada)[token]["active"] is True
    assert devices_of(gateway, bob) == {}

    assert_json_error(gateway.delete(f"/v1/push/devices/{token}", headers=bob.headers), 404)
    assert gateway.delete(f"/v1/push/devices/{token}", headers=ada.headers).status_code == 204
    assert devices_of(gateway, ada) == {}


def test_a_device_token_stays_with_the_account_that_registered_it(gateway: httpx.Client) -> None:
    # It used to move to whoever registered it next: knowing a token was enough to take its notifications.
    ada, mallory = new_account(gateway), new_account(gateway)
    token = register_device(gateway, ada)
    taken = gateway.post(
        "/v1/push/devices", json={"token": token, "platform": "ios"}, headers=mallory.headers
    )
    assert_json_error(taken, 409)
    assert taken.json()["error"]["code"] == "device_token_taken"
    assert devices_of(gateway, mallory) == {}
    assert devices_of(gateway, ada)[token]["platform"] == "android"  # untouched
    register_device(gateway, ada, token)  # the owner may register it again
    assert gateway.delete(f"/v1/push/devices/{token}", headers=ada.headers).status_code == 204
    register_device(gateway, mallory, token)  # once removed by its owner, it is free
    assert list(devices_of(gateway, mallory)) == [token]


def test_a_chat_message_notifies_the_other_members_devices_not_the_sender(
    gateway: httpx.Client, simulator: Simulator
) -> None:
    ada, bob, cy, eve = (new_account(gateway) for _ in range(4))
    ada_phone = register_device(gateway, ada)
    bob_phone, bob_tablet = register_device(gateway, bob), register_device(gateway, bob)
    cy_phone = register_device(gateway, cy)
    eve_phone = register_device(gateway, eve)  # not a member
    conversation_id = new_conversation(gateway, ada, bob, cy)
    since = simulator.last_seq()

    sent = send(gateway, ada, conversation_id, "hello everyone", key="push-key-1")
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["id"]

    expected = sorted([bob_phone, bob_tablet, cy_phone])
    assert wait_for(lambda: notified(simulator, since, message_id) == expected, timeout=10)
    entry = next(e for e in simulator.received(since) if e["token"] == bob_phone)
    assert entry["data"]["idempotency_key"] == "push-key-1"
    assert entry["data"]["conversation_id"] == conversation_id and entry["data"]["sender_id"] == ada.user_id
    assert entry["notification"]["body"] == "hello everyone"
    time.sleep(0.3)  # nothing else may trickle in for the sender or an outsider
    tokens = {e["token"] for e in simulator.received(since)}
    assert ada_phone not in tokens and eve_phone not in tokens


def test_tokens_the_provider_calls_invalid_are_deactivated(
    gateway: httpx.Client, simulator: Simulator, running_stack: LocalStack
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    stale = register_device(gateway, bob, token=f"invalid-{uuid.uuid4().hex}")
    fresh = register_device(gateway, bob)
    conversation_id = new_conversation(gateway, ada, bob)
    deactivated_before = metric(running_stack, "push", "push_tokens_deactivated_total")
    since = simulator.last_seq()

    first = send(gateway, ada, conversation_id, "one").json()["id"]
    wait_for(lambda: not devices_of(gateway, bob)[stale]["active"])
    assert devices_of(gateway, bob)[fresh]["active"] is True
    assert notified(simulator, since, first, "unregistered") == [stale]
    assert metric(running_stack, "push", "push_tokens_deactivated_total") == deactivated_before + 1

    second = send(gateway, ada, conversation_id, "two").json()["id"]
    wait_for(lambda: notified(simulator, since, second) == [fresh])
    assert notified(simulator, since, second, "unregistered") == []  # the stale token is not tried again


@pytest.mark.parametrize(
    ("mode", "params"), [("503", {}), ("429", {"retry_after_s": 1}), ("slow", {"delay_ms": 4000})]
)
def test_provider_trouble_never_fails_or_slows_a_chat_send(
    gateway: httpx.Client, simulator: Simulator, running_stack: LocalStack, mode: str, params: dict[str, int]
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    register_device(gateway, bob)
    conversation_id = new_conversation(gateway, ada, bob)
    failed_before = metric(running_stack, "push", "push_notifications_failed_total")
    simulator.mode(mode, **params)

    for i in range(3):
        started = time.monotonic()
        answer = send(gateway, ada, conversation_id, f"still works {i}")
        assert answer.status_code == 201, answer.text
        assert time.monotonic() - started < 1.0
    # Hardened: bounded retries (a slow call: its timeout), then counted failed. Waited for in every mode,
    # so that no call of this test is still out to time out during the next one (which counts timeouts).
    wait_for(lambda: metric(running_stack, "push", "push_notifications_failed_total") >= failed_before + 3)


def test_hardened_push_abandons_a_slow_provider_call_at_its_timeout(
    gateway: httpx.Client, simulator: Simulator, running_stack: LocalStack
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    register_device(gateway, bob)
    conversation_id = new_conversation(gateway, ada, bob)
    timeouts = metric(running_stack, "push", "push_notifications_failed_total", reason="timeout")
    simulator.mode("slow", delay_ms=3500)  # push's provider timeout is 2 s
    since = simulator.last_seq()

    # From before the send: the provider call may start before the send's answer is back (on a busy
    # machine, a second before), so a clock started after it would shorten the 2 s timeout.
    started = time.monotonic()
    message_id = send(gateway, ada, conversation_id, "slow one").json()["id"]
    wait_for(
        lambda: metric(running_stack, "push", "push_notifications_failed_total", reason="timeout") > timeouts
    )
    assert 1.5 < time.monotonic() - started < 3.3
    wait_for(lambda: notified(simulator, since, message_id, "abandoned"), timeout=5)
    assert notified(simulator, since, message_id) == []


def test_baseline_push_waits_as_long_as_the_provider_takes(
    stack_profile: ProfileSwitcher, running_stack: LocalStack
) -> None:
    with (
        stack_profile("hardened", push_timeouts=False) as stack,
        simulator_of(stack) as simulator,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        ada, bob = new_account(gateway), new_account(gateway)
        register_device(gateway, bob)
        conversation_id = new_conversation(gateway, ada, bob)
        simulator.mode("slow", delay_ms=3500)
        since = simulator.last_seq()

        started = time.monotonic()
        sent = send(gateway, ada, conversation_id, "waits")
        assert sent.status_code == 201 and time.monotonic() - started < 1.0
        message_id = sent.json()["id"]
        wait_for(lambda: notified(simulator, since, message_id), timeout=8)
        assert time.monotonic() - started >= 3.4  # delivered only once the provider answered
        assert metric(stack, "push", "push_notifications_failed_total") == 0
