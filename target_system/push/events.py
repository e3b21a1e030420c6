"""Chat's new-message events, as push hears them: a pattern subscription to every conversation channel.

Chat publishes `{"type":"message","message":{id, conversation_id, sender_id, body, idempotency_key,
created_at}}` on `chat:conv:<conversation id>` (see chat/fanout.py). Push listens to all of them; a
lost Redis connection is re-established with backoff, and events published meanwhile are missed
(pub/sub keeps nothing), which the harness counts as lost notifications.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

from redis.asyncio import Redis

log = logging.getLogger(__name__)

CONVERSATION_PATTERN = "chat:conv:*"  # chat.hub.conversation_channel
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    conversation_id: uuid.UUID
    sender_id: str
    body: str
    idempotency_key: str

    @classmethod
    def from_event(cls, raw: str) -> ChatMessage | None:
        """The message of a `message` event; None for other events (typing...) and malformed ones."""
        try:
            event = json.loads(raw)
            if event.get("type") != "message":
                return None
            m = event["message"]
            return cls(
                id=str(m["id"]),
                conversation_id=uuid.UUID(str(m["conversation_id"])),
                sender_id=str(m["sender_id"]),
                body=str(m.get("body", "")),
                idempotency_key=str(m.get("idempotency_key", "")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


async def chat_messages(redis: Redis, *, poll_interval: float = 1.0) -> AsyncIterator[ChatMessage]:
    """Every new chat message, forever; reconnects after Redis failures."""
    failures = 0
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(CONVERSATION_PATTERN)
            failures = 0
            while True:
                raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=poll_interval)
                if raw is None or raw.get("type") != "pmessage":
                    continue
                message = ChatMessage.from_event(str(raw["data"]))
                if message is not None:
                    yield message
        except Exception as exc:  # any loss (uvloop even reports a reset as RuntimeError): resubscribe
            log.warning("chat event subscription lost (%r); reconnecting", exc)
        finally:
            with suppress(Exception):
                await pubsub.aclose()
        await asyncio.sleep(RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)])
        failures += 1
