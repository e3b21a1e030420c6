"""The hub in process: a slow consumer is dropped without holding up anyone else, and against a real
redis-server, what its reader does when Redis drops its pub/sub connection (PUBSUB_RECONNECT on and off)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from starlette.websockets import WebSocket

from chaosgate.stack.stores import redis_ping, redis_server_binary
from target_system.chat.hub import Hub, PubSubReaderDead, conversation_channel
from target_system.chat.sockets import ClientSocket
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.settings import Settings


class StuckWebSocket:
    """A client that never reads: every send blocks."""

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()


class RecordingWebSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def _published(channel: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "data": json.dumps(event)}


async def test_a_stuck_socket_overflows_and_the_others_still_get_every_message() -> None:
    hub = Hub(cast(Any, None))  # dispatch only: the Redis side is never started
    conversation_id = uuid.uuid4()
    stuck = ClientSocket(cast(WebSocket, StuckWebSocket()), "slow-user", queue_limit=3)
    healthy_ws = RecordingWebSocket()
    healthy = ClientSocket(cast(WebSocket, healthy_ws), "fast-user", queue_limit=3)
    writers = [asyncio.create_task(s.write_forever()) for s in (stuck, healthy)]
    await hub.join(stuck, [conversation_id])
    await hub.join(healthy, [conversation_id])

    for i in range(10):
        hub.dispatch(_published(conversation_channel(conversation_id), {"type": "message", "n": i}))
        await asyncio.sleep(0)  # let the healthy writer drain, as the event loop would between messages

    assert stuck.overflowed.is_set()
    assert not healthy.overflowed.is_set()
    assert [json.loads(t)["n"] for t in healthy_ws.sent] == list(range(10))
    for writer in writers:
        writer.cancel()
    await asyncio.gather(*writers, return_exceptions=True)


async def test_typing_is_not_echoed_to_its_sender() -> None:
    hub = Hub(cast(Any, None))
    conversation_id = uuid.uuid4()
    sockets = {user: RecordingWebSocket() for user in ("ada", "bob")}
    clients = [ClientSocket(cast(WebSocket, ws), user, queue_limit=0) for user, ws in sockets.items()]
    for client in clients:
        await hub.join(client, [conversation_id])
    writers = [asyncio.create_task(c.write_forever()) for c in clients]

    typing = {"type": "typing", "conversation_id": str(conversation_id), "user_id": "ada"}
    hub.dispatch(_published(conversation_channel(conversation_id), typing))
    await asyncio.sleep(0.01)

    assert sockets["ada"].sent == []
    assert [json.loads(t) for t in sockets["bob"].sent] == [typing]
    for writer in writers:
        writer.cancel()
    await asyncio.gather(*writers, return_exceptions=True)


# -- the reader against a real redis-server ---------------------------------------------------------


class Inbox:
    """A local socket that keeps what the hub delivers to it."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.received: list[str] = []

    def deliver(self, text: str) -> None:
        self.received.append(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    data: Path = tmp_path_factory.mktemp("redis")
    argv = [str(redis_server_binary()), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    server = subprocess.Popen([*argv, "--appendonly", "no", "--dir", str(data)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not redis_ping(port):
            assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(5)


@pytest.fixture
async def admin(redis_port: int) -> AsyncIterator[Redis]:
    """Another client of the same server: publishes, and kills the hub's connection."""
    client = Redis(port=redis_port, decode_responses=True)
    yield client
    await client.aclose()


async def _running_hub(port: int, *, reconnect: bool) -> tuple[Hub, ServiceMetrics]:
    """A hub on the very client the chat service lends it (no client-side retry of its own)."""
    metrics = ServiceMetrics("chat")
    redis = ResilientRedis(Settings(redis_url=f"redis://127.0.0.1:{port}/0"), metrics)
    hub = Hub(redis.client, reconnect=reconnect, metrics=metrics)
    await hub.start()
    await asyncio.wait_for(hub.connected.wait(), 5)
    return hub, metrics


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


def _sample(metrics: ServiceMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"service": "chat"})


async def test_with_reconnect_off_the_reader_dies_with_its_connection_and_redis_coming_back_does_not_help(
    redis_port: int, admin: Redis
) -> None:
    hub, metrics = await _running_hub(redis_port, reconnect=False)
    conversation = uuid.uuid4()
    ada = Inbox("ada")
    await hub.join(ada, [conversation])
    assert await admin.publish(conversation_channel(conversation), "before") == 1
    assert await _eventually(lambda: _true(ada.received == ["before"]))

    # Redis is up all along: only the hub's pub/sub connection is dropped, as a restart or a network
    # fault would drop it.
    await admin.client_kill_filter(_type="pubsub")
    assert await _eventually(lambda: _true(hub.dead))

    assert _sample(metrics, "chat_pubsub_reader_dead") == 1
    assert _sample(metrics, "chat_pubsub_connection_lost_total") == 1
    with pytest.raises(PubSubReaderDead):
        await hub.ready()
    # Nobody subscribes again: Redis counts no receiver, for old sockets and for a socket joining now.
    bob = Inbox("bob")
    await hub.join(bob, [conversation])
    await asyncio.sleep(1.5)  # longer than the hardened reader's first backoffs
    assert await admin.publish(conversation_channel(conversation), "after") == 0
    assert ada.received == ["before"] and bob.received == []
    await hub.stop()


async def test_with_reconnect_on_the_reader_subscribes_everything_again(
    redis_port: int, admin: Redis
) -> None:
    hub, metrics = await _running_hub(redis_port, reconnect=True)
    conversation = uuid.uuid4()
    ada = Inbox("ada")
    await hub.join(ada, [conversation])

    await admin.client_kill_filter(_type="pubsub")
    assert await _eventually(lambda: _true(_sample(metrics, "chat_pubsub_connection_lost_total") == 1))

    channel = conversation_channel(conversation)
    assert await _eventually(lambda: _subscribed(admin, channel)), "the hub did not subscribe again"
    assert await admin.publish(channel, "after") == 1
    assert await _eventually(lambda: _true(ada.received == ["after"]))
    assert not hub.dead and _sample(metrics, "chat_pubsub_reader_dead") == 0
    await hub.ready()  # a reader that reconnects is ready
    await hub.stop()


async def _true(value: bool) -> bool:
    return value


async def _subscribed(admin: Redis, channel: str) -> bool:
    counts = dict(await admin.pubsub_numsub(channel))
    return bool(counts.get(channel))
