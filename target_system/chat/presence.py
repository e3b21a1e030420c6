"""Presence in Redis: `presence:<user>` with a TTL, refreshed by heartbeats; fail-open behind a switch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from target_system.common.degraded import mark_degraded
from target_system.common.redis import RedisUnavailable, ResilientRedis, fail_closed

_log = logging.getLogger(__name__)

MAX_QUERIED_USERS = 200


def presence_key(user_id: str) -> str:
    return f"presence:{user_id}"


@dataclass(frozen=True, slots=True)
class OnlineAnswer:
    online: list[str]
    degraded: bool


class Presence:
    """Heartbeats and lookups. With `fail_open`, a Redis failure is logged and answered as "unknown"
    (nobody online, degraded) instead of failing the request, the send or the WebSocket around it."""

    def __init__(self, redis: ResilientRedis, *, fail_open: bool, ttl: int) -> None:
        self._redis = redis
        self._fail_open = fail_open
        self.ttl = ttl

    async def heartbeat(self, user_id: str) -> bool:
        """Mark `user_id` online for `ttl` seconds; False when fail-open swallowed a Redis failure."""
        try:
            await self._redis.set(presence_key(user_id), "1", ex=self.ttl)
        except Exception as exc:
            if not self._fail_open:
                if isinstance(exc, RedisUnavailable):
                    raise fail_closed(exc) from exc  # 500, as the unfixed presence repository answered
                raise
            _log.info("presence heartbeat for %s skipped: %r", user_id, exc)
            mark_degraded("presence_unavailable")
            return False
        return True

    async def online(self, user_ids: list[str]) -> OnlineAnswer:
        if not user_ids:
            return OnlineAnswer(online=[], degraded=False)
        keys = [presence_key(u) for u in user_ids]
        try:
            values = await self._redis.call("mget", lambda r: r.mget(keys))
        except Exception as exc:
            if not self._fail_open:
                if isinstance(exc, RedisUnavailable):
                    raise fail_closed(exc) from exc  # 500, as the unfixed presence repository answered
                raise
            _log.info("presence lookup failed: %r", exc)
            mark_degraded("presence_unavailable")
            return OnlineAnswer(online=[], degraded=True)
        return OnlineAnswer(online=[u for u, v in zip(user_ids, values, strict=True) if v], degraded=False)
