"""After Redis comes back, does WebSocket delivery come back by itself? (PUBSUB_RECONNECT, real stack)

Redis is taken away the way scenario redis-down takes it (the fault proxy's `redis` proxy disabled, which
drops every open connection, the chat hub's pub/sub one included) and given back. Then a user who opens
a chat WebSocket is sent messages. Baseline (switch off): the hub's reader died with its connection, so
nothing arrives and chat's dependency-aware readiness says why, while liveness stays 200. Hardened (on):
the reader resubscribed and the message arrives within seconds.
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
    new_account,
    new_conversation,
    proxy_post,
    send,
    wait_until,
)
from websockets.sync.client import ClientConnection

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]

DEAF_FOR_S = 4.0  # how long the baseline subscriber is given: past the hardened reader's longest backoff
HEARS_WITHIN_S = 8.0  # reconnect backoff (at most 2 s) plus the resubscribe, with margin for a busy machine


@pytest.fixture
def gateway(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.gateway_url, timeout=15.0) as client:
        yield client


def _chat_metric(stack: LocalStack, name: str) -> float:
    """A chat metric read from the service itself (the gateway does not route /metrics)."""
    text = httpx.get(stack.url_of("chat") + "/metrics", timeout=5.0).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def _redis_outage(stack: LocalStack, proxy_api: str) -> None:
    """Redis away until chat's hub has lost its pub/sub connection, then back and answering chat again."""
    lost_before = _chat_metric(stack, "chat_pubsub_connection_lost_total")
    proxy_post(proxy_api, "/proxies/redis", {"enabled": False})
    wait_until(lambda: _chat_metric(stack, "chat_pubsub_connection_lost_total") > lost_before)
    proxy_post(proxy_api, "/proxies/redis", {"enabled": True})


def _first_delivery(
    gateway: httpx.Client, sender: Account, conversation_id: str, socket: ClientConnection, within: float
) -> float | None:
    """Seconds until one of the messages sent every half second arrives on `socket`; None if none does."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        assert send(gateway, sender, conversation_id, "after the outage").status_code == 201
        try:
            while '"type":"message"' not in str(socket.recv(timeout=0.5)):
                pass
            return time.monotonic() - started
        except TimeoutError:
            continue
    return None


def _back_and_sending(gateway: httpx.Client, sender: Account, conversation_id: str) -> None:
    # Without REDIS_RETRY the first calls after the outage may meet a dead pooled connection.
    wait_until(lambda: send(gateway, sender, conversation_id, "is redis back?").status_code == 201)


def test_baseline_websocket_delivery_stays_broken_after_redis_returns(
    stack_profile: ProfileSwitcher, gateway: httpx.Client, proxy_reset: str
) -> None:
    with stack_profile("baseline", health_deps=True) as stack:
        ada, bob = new_account(gateway), new_account(gateway)
        conversation_id = new_conversation(gateway, ada, bob)

        _redis_outage(stack, proxy_reset)
        _back_and_sending(gateway, ada, conversation_id)

        with chat_socket(stack.gateway_url, bob) as bobs_socket:  # `ready` comes: the socket looks fine
            assert _first_delivery(gateway, ada, conversation_id, bobs_socket, DEAF_FOR_S) is None
        assert _chat_metric(stack, "chat_pubsub_reader_dead") == 1
        ready = httpx.get(stack.url_of("chat") + "/health/ready", timeout=5.0)
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["pubsub"]["status"] == "down"
        assert ready.json()["checks"]["redis"]["status"] == "ok"  # Redis itself is fine: only the reader died
        assert httpx.get(stack.url_of("chat") + "/health/live", timeout=5.0).status_code == 200


@pytest.mark.usefixtures("running_stack")
def test_hardened_websocket_delivery_comes_back_by_itself(
    local_stack: LocalStack, gateway: httpx.Client, proxy_reset: str
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    conversation_id = new_conversation(gateway, ada, bob)

    _redis_outage(local_stack, proxy_reset)
    _back_and_sending(gateway, ada, conversation_id)

    with chat_socket(local_stack.gateway_url, bob) as bobs_socket:
        took = _first_delivery(gateway, ada, conversation_id, bobs_socket, HEARS_WITHIN_S)
    assert took is not None, f"no message reached a new WebSocket within {HEARS_WITHIN_S}s of Redis's return"
    assert _chat_metric(local_stack, "chat_pubsub_reader_dead") == 0
    assert httpx.get(local_stack.url_of("chat") + "/health/ready", timeout=5.0).status_code == 200
