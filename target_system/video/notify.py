"""Call events and signaling messages published to participants' channels in Redis (`video:user:<id>`).

Every video process subscribes, per open signaling socket, to its user's channel, so a message
published by any process reaches the user wherever they are connected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from target_system.common.redis import ResilientRedis
from target_system.video.metrics import VideoMetrics
from target_system.video.models import Call

_log = logging.getLogger(__name__)

USER_CHANNEL_PREFIX = "video:user:"


def user_channel(user_id: str) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class Notifier:
    """Publishes to users' channels; `signal` raises on a Redis failure, `call_changed` only logs."""

    def __init__(self, redis: ResilientRedis, metrics: VideoMetrics) -> None:
        self._redis = redis
        self._metrics = metrics

    async def publish(self, users: Iterable[str], event: dict[str, Any]) -> None:
        text = compact_json(event)
        targets = list(users)
        if not targets:
            return
        await self._redis.pipeline(
            "publish", lambda pipe: [pipe.publish(user_channel(u), text) for u in targets]
        )

    async def call_changed(self, call: Call) -> None:
        """Tell every participant's sockets the call's new state; the state is in SQL, so this is a hint."""
        try:
            event = {"type": "call", "call": call.to_json()}
            await self.publish((p.user_id for p in call.participants), event)
        except Exception as exc:
            self._metrics.notify_failures.inc()
            _log.info("call event for %s not published: %r", call.id, exc)
