"""The push outbox (PUSH_OUTBOX) on the local stack: what the provider refused arrives once it is back.

Hardened (the session stack), a notification the provider refuses is kept in SQL, outlives a push
restart and reaches the device after the outage; baseline, the same notifications are lost, as the
reports describe ("logs error, continues").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from test_chat_support import Account, new_account, new_conversation, send
from test_push_support import Simulator, metric, register_device, simulator_of, wait_for

from chaosgate.stack.launcher import LocalStack
from target_system.push.outbox import RETRY_AFTER_CAP_S, backoff

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]

OUTAGE_SENDS = 8
DRAIN_BOUND_S = 6.0  # the backoff cap (2 s) plus a drain, with room for a busy machine


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def simulator(running_stack: LocalStack) -> Iterator[Simulator]:
    with simulator_of(running_stack) as sim:
        yield sim


def delivered_to(simulator: Simulator, since: int, token: str) -> list[str]:
    """The chat message ids delivered to `token` after `since`, one per delivery (repeats show)."""
    return [e["data"]["message_id"] for e in simulator.received(since, "delivered") if e["token"] == token]


def send_messages(gateway: httpx.Client, sender: Account, conversation_id: str, count: int) -> list[str]:
    """`count` chat messages, each acknowledged by chat; their ids."""
    ids = []
    for i in range(count):
        answer = send(gateway, sender, conversation_id, f"message {i}")
        assert answer.status_code == 201, answer.text  # chat acknowledges: push is asynchronous
        ids.append(answer.json()["id"])
    return ids


def test_backoff_grows_with_refusals_stays_under_its_cap_and_honours_retry_after() -> None:
    first = [backoff(1, 0.25, 2.0) for _ in range(200)]
    late = [backoff(10, 0.25, 2.0) for _ in range(200)]
    assert max(first) <= 0.25 and max(late) <= 2.0
    assert max(late) > 1.0  # the ceiling doubled up to the cap, and the jitter spreads below it
    assert min(late) < 1.0
    assert backoff(1, 0.25, 2.0, asked=5.0) == 5.0  # the provider's Retry-After wins over the cap...
    assert backoff(1, 0.25, 2.0, asked=3600.0) == RETRY_AFTER_CAP_S  # ...up to a minute


def test_notifications_refused_during_an_outage_survive_a_push_restart_and_arrive_once_it_is_back(
    gateway: httpx.Client, simulator: Simulator, running_stack: LocalStack
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    phone = register_device(gateway, bob)
    conversation_id = new_conversation(gateway, ada, bob)
    # What an earlier test on this stack left in the outbox (a 429 with Retry-After, say) would be sent
    # after the restart below too and counted with ours: it drains first.
    wait_for(lambda: metric(running_stack, "push", "push_outbox_depth") == 0, timeout=RETRY_AFTER_CAP_S + 5)
    kept_before = metric(running_stack, "push", "push_outbox_kept_total")
    since = simulator.last_seq()

    simulator.mode("503")
    ids = send_messages(gateway, ada, conversation_id, OUTAGE_SENDS)
    wait_for(lambda: metric(running_stack, "push", "push_outbox_kept_total") >= kept_before + OUTAGE_SENDS)
    assert delivered_to(simulator, since, phone) == []

    # The outbox lives in SQL, not in push's memory: a crash while the provider is down keeps it.
    running_stack.kill_service("push")
    running_stack.start_service("push")
    wait_for(lambda: metric(running_stack, "push", "push_outbox_depth") >= OUTAGE_SENDS)
    simulator.mode("ok")

    wait_for(lambda: len(delivered_to(simulator, since, phone)) >= OUTAGE_SENDS, timeout=DRAIN_BOUND_S)
    assert sorted(delivered_to(simulator, since, phone)) == sorted(ids)  # every one, once
    wait_for(lambda: metric(running_stack, "push", "push_outbox_depth") == 0)
    assert metric(running_stack, "push", "push_outbox_sent_after_retry_total") == OUTAGE_SENDS
    assert metric(running_stack, "push", "push_outbox_dropped_total") == 0


# Its resend must be answered within push's 2 s timeout: beside three xdist workers the machine once took
# longer (the resend counted refused, kept again, the counter not moved in 10 s), so it runs alone.
@pytest.mark.alone
def test_a_notification_that_timed_out_on_a_slow_provider_is_sent_again_once_it_answers(
    gateway: httpx.Client, simulator: Simulator, running_stack: LocalStack
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    phone = register_device(gateway, bob)
    conversation_id = new_conversation(gateway, ada, bob)
    sent_before = metric(running_stack, "push", "push_outbox_sent_after_retry_total")
    since = simulator.last_seq()

    simulator.mode("slow", delay_ms=3000)  # push gives up at its 2 s timeout: the simulator keeps nothing
    [message_id] = send_messages(gateway, ada, conversation_id, 1)
    wait_for(lambda: metric(running_stack, "push", "push_outbox_depth") >= 1, timeout=5)
    assert delivered_to(simulator, since, phone) == []
    simulator.mode("ok")

    wait_for(lambda: delivered_to(simulator, since, phone) == [message_id], timeout=DRAIN_BOUND_S)
    wait_for(lambda: metric(running_stack, "push", "push_outbox_sent_after_retry_total") == sent_before + 1)


def test_without_the_outbox_notifications_refused_during_an_outage_are_lost(
    stack_profile: ProfileSwitcher,
) -> None:
    with (
        stack_profile("baseline") as stack,
        simulator_of(stack) as simulator,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        ada, bob = new_account(gateway), new_account(gateway)
        phone = register_device(gateway, bob)
        conversation_id = new_conversation(gateway, ada, bob)
        since = simulator.last_seq()

        simulator.mode("503")
        send_messages(gateway, ada, conversation_id, OUTAGE_SENDS)
        wait_for(
            lambda: metric(stack, "push", "push_outbox_dropped_total", reason="no_outbox") >= OUTAGE_SENDS
        )
        simulator.mode("ok")
        [after] = send_messages(gateway, ada, conversation_id, 1)  # the provider works again...

        wait_for(lambda: after in delivered_to(simulator, since, phone))
        time.sleep(DRAIN_BOUND_S)  # ...and as long as the outbox would need, nothing else comes
        assert delivered_to(simulator, since, phone) == [after]
        assert metric(stack, "push", "push_outbox_depth") == 0  # no outbox at all
        assert metric(stack, "push", "push_outbox_kept_total") == 0
