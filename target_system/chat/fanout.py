"""The publishing side of the hub: the events chat sends through Redis pub/sub, encoded once."""

from __future__ import annotations

import json
import uuid

from target_system.chat.hub import conversation_channel, user_channel
from target_system.chat.models import Conversation, Message
from target_system.common.redis import ResilientRedis


def compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def message_event(message_json: str) -> str:
    """The pub/sub event for a message already encoded as JSON (encoded once for the answer and the event)."""
    return f'{{"type":"message","message":{message_json}}}'


class Fanout:
    """Publishes chat events; every method raises on a Redis failure (callers choose how to degrade)."""

    def __init__(self, redis: ResilientRedis) -> None:
        self._redis = redis

    async def message(self, message: Message, message_json: str) -> None:
        await self._redis.publish(conversation_channel(message.conversation_id), message_event(message_json))

    async def conversation(self, conversation: Conversation) -> None:
        """Tell each member's sockets (on any process) about a conversation they were just added to."""
        event = compact_json({"type": "conversation", "conversation": conversation.to_json()})
        await self._redis.pipeline(
            "publish",
            lambda pipe: [pipe.publish(user_channel(m), event) for m in conversation.members],
        )

    async def typing(self, conversation_id: uuid.UUID, user_id: str) -> None:
        event = {"type": "typing", "conversation_id": str(conversation_id), "user_id": user_id}
        await self._redis.publish(conversation_channel(conversation_id), compact_json(event))
