"""Auth's ephemeral state (sessions, token blacklist, login lockout): Redis, with an in-memory fallback.

REDIS_FALLBACK on: while Redis is down (a call failed, or failed within `redis_down_hold`), every
operation uses this process's memory instead, marks the response degraded and counts
`auth_fallback_total{service,op}`; sessions and revocations made meanwhile are written to Redis once
it answers again (`sync`), so other services see them. Sessions and revocations are also mirrored
in memory while Redis is up, so a refresh or a logout check keeps working through an outage.
REDIS_FALLBACK off: Redis errors surface (503), which is what the reports found.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from target_system.common.degraded import mark_degraded
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import RedisUnavailable, ResilientRedis, fail_closed
from target_system.common.tokens import DEGRADED_REASON, LocalRevocations, blacklist_key, session_key
from target_system.settings import Settings
from target_system.switches import Switch

T = TypeVar("T")
_MIRROR_CAP = 100_000  # sessions kept in memory at most; the oldest go first


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What `session:<sid>` holds: whose session it is and the hash of its current refresh secret."""

    user_id: str
    refresh_hash: str
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> SessionRecord:
        data = json.loads(raw)
        return cls(str(data["user_id"]), str(data["refresh_hash"]), float(data["expires_at"]))


class _Expiring:
    """An in-memory map whose entries expire; bounded, oldest evicted first."""

    def __init__(self, cap: int = _MIRROR_CAP) -> None:
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._cap = cap

    def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= time.time():
            del self._items[key]
            return None
        return item[0]

    def put(self, key: str, value: str, expires_at: float) -> None:
        self._items[key] = (value, expires_at)
        self._items.move_to_end(key)
        while len(self._items) > self._cap:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def expires_at(self, key: str) -> float | None:
        item = self._items.get(key)
        return item[1] if item else None


class AuthState:
    """Sessions, blacklist and lockout counters, in Redis or (with REDIS_FALLBACK) in memory."""

    def __init__(
        self,
        settings: Settings,
        redis: ResilientRedis,
        metrics: ServiceMetrics,
        revocations: LocalRevocations,
    ) -> None:
        self._redis = redis
        self._fallback = settings.switches.on(Switch.REDIS_FALLBACK)
        self._lock_max = settings.tunables.lockout_max_attempts
        self._lock_window = settings.tunables.lockout_window
        self.revocations = revocations
        self._sessions = _Expiring()
        self._failures = _Expiring()
        self._pending: dict[str, bool] = {}  # session key -> True: write to Redis, False: delete there
        self._fallbacks = metrics.counter(
            "auth_fallback_total",
            "Auth decisions taken from in-memory state while Redis was down",
            ("service", "op"),
        )
        self._service = metrics.service

    async def _redis_or_memory(
        self, op: str, remote: Callable[[], Awaitable[T]], local: Callable[[], T]
    ) -> T:
        if self._fallback and self._redis.recently_down:
            return self._degraded(op, local)
        try:
            return await remote()
        except RedisUnavailable as exc:
            if not self._fallback:
                raise fail_closed(exc) from exc
            return self._degraded(op, local)

    def _degraded(self, op: str, local: Callable[[], T]) -> T:
        self._fallbacks.labels(self._service, op).inc()
        mark_degraded(DEGRADED_REASON)
        return local()

    # -- sessions -------------------------------------------------------------------------------

    async def put_session(self, sid: str, record: SessionRecord) -> None:
        key, raw = session_key(sid), record.to_json()
        ttl = max(1, int(record.expires_at - time.time()))

        async def remote() -> None:
            await self._redis.set(key, raw, ex=ttl)

        def local() -> None:
            self._pending[key] = True

        self._sessions.put(key, raw, record.expires_at)
        await self._redis_or_memory("session_put", remote, local)

    async def get_session(self, sid: str) -> SessionRecord | None:
        key = session_key(sid)
        if key in self._pending:
            # Changed here while Redis was down and not written back yet: Redis holds an older
            # refresh hash, and trusting it would end a session the user rotated during the outage.
            local = self._sessions.get(key) if self._pending[key] else None
            return SessionRecord.from_json(local) if local else None

        async def remote() -> str | None:
            return await self._redis.get(key)

        raw = await self._redis_or_memory("session_get", remote, lambda: self._sessions.get(key))
        return SessionRecord.from_json(raw) if raw else None

    async def delete_session(self, sid: str) -> None:
        key = session_key(sid)

        async def remote() -> None:
            await self._redis.delete(key)

        def local() -> None:
            self._pending[key] = False

        self._sessions.pop(key)
        await self._redis_or_memory("session_delete", remote, local)

    def has_local_session(self, sid: str) -> bool:
        """Whether this process knows the session (for sessions made while Redis was down, not yet synced)."""
        key = session_key(sid)
        return self._pending.get(key) is True and self._sessions.get(key) is not None

    # -- blacklist ------------------------------------------------------------------------------

    async def revoke(self, jti: str, expires_at: int) -> None:
        """Blacklist an access token until it would have expired anyway."""
        self.revocations.add(jti, expires_at)
        ttl = max(1, int(expires_at - time.time()))
        key = blacklist_key(jti)

        async def remote() -> None:
            await self._redis.set(key, "1", ex=ttl)

        def local() -> None:
            self._pending[key] = True

        await self._redis_or_memory("blacklist_put", remote, local)

    # -- lockout --------------------------------------------------------------------------------

    async def failed_attempts(self, email: str) -> int:
        key = f"lockout:{email}"

        async def remote() -> int:
            return int(await self._redis.get(key) or 0)

        return await self._redis_or_memory("lockout_get", remote, lambda: int(self._failures.get(key) or 0))

    async def record_failure(self, email: str) -> int:
        """Count one failed login; returns the count in the current lockout window."""
        key = f"lockout:{email}"

        async def remote() -> int:
            # The window starts at the first failure (no EXPIRE NX: Redis 6.2 must work too).
            count = await self._redis.incr(key)
            if count == 1:
                await self._redis.expire(key, self._lock_window)
            return count

        def local() -> int:
            count = int(self._failures.get(key) or 0) + 1
            self._failures.put(
                key, str(count), self._failures.expires_at(key) or time.time() + self._lock_window
            )
            return count

        return await self._redis_or_memory("lockout_incr", remote, local)

    async def clear_failures(self, email: str) -> None:
        key = f"lockout:{email}"

        async def remote() -> None:
            await self._redis.delete(key)

        self._failures.pop(key)
        await self._redis_or_memory("lockout_clear", remote, lambda: None)

    def is_locked(self, attempts: int) -> bool:
        return attempts >= self._lock_max

    # -- resync ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def sync(self) -> int:
        """Write what changed while Redis was down back to Redis; returns how many keys were written."""
        if not self._pending or self._redis.recently_down:
            return 0
        done = 0
        for key, keep in list(self._pending.items()):
            try:
                if not keep:
                    await self._redis.delete(key)
                elif key.startswith("blacklist:"):
                    until = self.revocations.expires_at(key.removeprefix("blacklist:"))
                    if until is not None and until > time.time():
                        await self._redis.set(key, "1", ex=max(1, int(until - time.time())))
                else:
                    raw, until = self._sessions.get(key), self._sessions.expires_at(key)
                    if raw is not None and until is not None:
                        await self._redis.set(key, raw, ex=max(1, int(until - time.time())))
            except RedisUnavailable:
                break
            self._pending.pop(key, None)
            done += 1
        return done
