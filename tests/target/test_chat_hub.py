"""The hub's dispatch in process: a slow consumer is dropped without holding up anyone else."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, cast

from starlette.websockets import WebSocket

from chaosgate.target_system.chat.hub import Hub, conversation_channel
from chaosgate.target_system.chat.sockets import ClientSocket


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
