"""PERSIST_FIRST on the real stack: does chat acknowledge a message the message store never gets?

Off (the unfixed send path): the send is answered 201 and broadcast at once and the message is written
behind; when the store refuses it or times out, the write-behind drops it (an error line and
`chat_message_persist_dropped_total`) and history never has it, although the sender, the other member's
socket and push were all told it exists. On: the store comes first, so the same fault answers a clean 503
and every acknowledged message is in history afterwards.

Each story counts: acknowledged during the fault, then missing from history once the store is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from test_chat_support import (
    Account,
    chat_socket,
    history,
    new_account,
    new_conversation,
    next_event,
    proxy_post,
    send,
    wait_until,
)

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]
SENDS = 8
SLOW_STORE_MS = 3000  # past the hardened store timeout (1 s), short of the test's patience


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=15.0) as client:
        yield client


def _dropped(stack: LocalStack, reason: str) -> float:
    """chat_message_persist_dropped_total{reason} as the chat service counts it."""
    text = httpx.get(stack.url_of("chat") + "/metrics", timeout=5.0).text
    prefix = "chat_message_persist_dropped_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and f'reason="{reason}"' in line
    )


def _keys_in_history(client: httpx.Client, reader: Account, conversation_id: str) -> set[str]:
    answer = history(client, reader, conversation_id, limit=200)
    assert answer.status_code == 200, answer.text
    return {m["idempotency_key"] for m in answer.json()["messages"]}


def _send_during_fault(client: httpx.Client, ada: Account, conversation_id: str) -> tuple[set[str], float]:
    """SENDS messages; the keys chat acknowledged (2xx) and the slowest answer, in seconds."""
    acknowledged: set[str] = set()
    slowest = 0.0
    for n in range(SENDS):
        key = f"during-fault-{n}-{time.monotonic_ns()}"
        started = time.monotonic()
        answer = send(client, ada, conversation_id, f"message {n}", key=key)
        slowest = max(slowest, time.monotonic() - started)
        if 200 <= answer.status_code < 300:
            acknowledged.add(key)
        else:
            assert answer.status_code == 503, answer.text  # refused cleanly, never a 500
    return acknowledged, slowest


def _store_refuses(proxy_api: str) -> None:
    proxy_post(proxy_api, "/proxies/cassandra", {"enabled": False})


def _store_back(proxy_api: str) -> None:
    httpx.post(f"{proxy_api}/reset", timeout=5.0).raise_for_status()


def test_written_behind_messages_are_acknowledged_broadcast_and_lost_while_the_store_refuses(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("baseline") as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=15.0) as client,
    ):
        ada, bob = new_account(client), new_account(client)
        conversation_id = new_conversation(client, ada, bob)
        assert send(client, ada, conversation_id, "before", key="before").status_code == 201
        wait_until(lambda: "before" in _keys_in_history(client, bob, conversation_id))
        dropped_before = _dropped(stack, "store_failed")

        with chat_socket(stack.gateway_url, bob) as bobs_socket:
            _store_refuses(proxy_reset)
            acknowledged, slowest = _send_during_fault(client, ada, conversation_id)
            # Answered without the store: every send acknowledged, fast, and broadcast to bob.
            assert len(acknowledged) == SENDS and slowest < 1.0, (len(acknowledged), slowest)
            broadcast = {
                next_event(bobs_socket, "message")["message"]["idempotency_key"] for _ in range(SENDS)
            }
            assert broadcast == acknowledged

        # The write-behind retries (gocql's three backoffs), then drops each one, logged and counted.
        wait_until(lambda: _dropped(stack, "store_failed") >= dropped_before + SENDS)
        _store_back(proxy_reset)
        stored = _keys_in_history(client, bob, conversation_id)
        lost = acknowledged - stored
        assert "before" in stored
        assert len(lost) == SENDS, f"{len(lost)} of {len(acknowledged)} acknowledged messages lost"
        assert _dropped(stack, "store_failed") == dropped_before + SENDS

        # Nothing stays broken: a send after the fault is stored again.
        assert send(client, ada, conversation_id, "after", key="after").status_code == 201
        wait_until(lambda: "after" in _keys_in_history(client, bob, conversation_id))


def test_persist_first_refuses_cleanly_and_loses_no_acknowledged_message(
    gateway: httpx.Client, running_stack: LocalStack, proxy_reset: str
) -> None:
    assert running_stack.profile == "hardened"
    ada, bob = new_account(gateway), new_account(gateway)
    conversation_id = new_conversation(gateway, ada, bob)
    assert send(gateway, ada, conversation_id, "before", key="before").status_code == 201

    with chat_socket(running_stack.gateway_url, bob) as bobs_socket:
        _store_refuses(proxy_reset)
        acknowledged, slowest = _send_during_fault(gateway, ada, conversation_id)
        assert slowest < 2.5, f"a refusal took {slowest:.2f}s"
        _store_back(proxy_reset)
        # Back once the gateway's breaker lets chat through again (a retry with the same key).
        wait_until(lambda: send(gateway, ada, conversation_id, "after", key="after").status_code == 201)
        # Only what was stored was broadcast: the next event bob sees is the message after the fault.
        assert next_event(bobs_socket, "message")["message"]["idempotency_key"] in acknowledged | {"after"}

    stored = _keys_in_history(gateway, bob, conversation_id)
    assert {"before", "after"} <= stored
    assert acknowledged - stored == set(), "an acknowledged message is missing from history"
    assert len(acknowledged) < SENDS, "the store was refusing: some sends should have been refused"


def test_without_persist_first_the_store_timeout_drops_acknowledged_messages_on_a_slow_store(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    """Hardened but PERSIST_FIRST off: the hardened store timeout turns a slow store into lost messages."""
    with (
        stack_profile("hardened", persist_first=False) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=15.0) as client,
    ):
        ada, bob = new_account(client), new_account(client)
        conversation_id = new_conversation(client, ada, bob)
        dropped_before = _dropped(stack, "store_failed")

        proxy_post(
            proxy_reset,
            "/proxies/cassandra/toxics",
            {"type": "latency", "attributes": {"latency": SLOW_STORE_MS}},
        )
        acknowledged, slowest = _send_during_fault(client, ada, conversation_id)
        assert len(acknowledged) == SENDS and slowest < 1.0, (len(acknowledged), slowest)
        wait_until(lambda: _dropped(stack, "store_failed") >= dropped_before + SENDS)
        _store_back(proxy_reset)
        time.sleep(SLOW_STORE_MS / 1000)  # anything still in flight lands before we look

        lost = acknowledged - _keys_in_history(client, bob, conversation_id)
        assert len(lost) == SENDS, f"{len(lost)} of {len(acknowledged)} acknowledged messages lost"


def test_a_slow_store_without_timeouts_stores_late_until_the_write_behind_queue_overflows(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    """Baseline, one writer and a queue of one: a slow store holds the writer, the queue fills, the rest
    of the acknowledged messages are dropped; what was taken lands once the store answers."""
    tiny_queue = {"SC_CHAT_PERSIST_QUEUE": "1", "SC_CHAT_PERSIST_WRITERS": "1"}
    with (
        stack_profile("baseline", env=tiny_queue) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=15.0) as client,
    ):
        ada, bob = new_account(client), new_account(client)
        conversation_id = new_conversation(client, ada, bob)
        full_before = _dropped(stack, "queue_full")

        proxy_post(
            proxy_reset, "/proxies/cassandra/toxics", {"type": "latency", "attributes": {"latency": 10_000}}
        )
        acknowledged, slowest = _send_during_fault(client, ada, conversation_id)
        assert len(acknowledged) == SENDS and slowest < 1.0, (len(acknowledged), slowest)
        # One message with the writer, one in the queue: the other six had nowhere to go. (The latency
        # only has to outlast the sends: removing it lets what it holds through at once.)
        assert _dropped(stack, "queue_full") == full_before + SENDS - 2
        _store_back(proxy_reset)

        wait_until(lambda: len(acknowledged & _keys_in_history(client, bob, conversation_id)) == 2)
        lost = acknowledged - _keys_in_history(client, bob, conversation_id)
        assert len(lost) == SENDS - 2, f"{len(lost)} of {len(acknowledged)} acknowledged messages lost"
