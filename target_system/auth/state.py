"""Auth's ephemeral state (sessions, token blacklist, login lockout): Redis, with an in-memory fallback.

REDIS_FALLBACK on: while Redis is down (a call failed, or failed within `redis_down_hold`), every
operation uses this process's memory instead, marks the response degraded and counts
`auth_fallback_total{service,op}`; sessions and revocations made meanwhile are written to Redis once
it answers again (`sync`), so other services see them. Sessions and revocations are also mirrored
in memory while Redis is up, so a refresh or a logout check keeps working through an outage.
Revocations made during an outage are also journalled in SQL (journal.py) until Redis has them, so a
restart of auth does not forget a logout. REDIS_FALLBACK off: Redis errors surface (503), which is
what the reports found.

Every revocation (a logout's token, an ended session) also goes to the revocation log that the other
services follow (common/revocations.py), so they refuse it through a later outage too.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from target_system.auth.journal import RevocationJournal
from target_system.common.degraded import mark_degraded
from target_system.common.errors import ServiceError
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import RedisUnavailable, ResilientRedis, fail_closed
from target_system.common.revocations import LocalRevocations, RevocationKind, append_to_log
from target_system.common.tokens import DEGRADED_REASON, blacklist_key, session_key
from target_system.settings import Settings
from target_system.switches import Switch

T = TypeVar("T")
log = logging.getLogger(__name__)
_MIRROR_CAP = 100_000  # sessions kept in memory at most; the oldest go first


def lockout_key(email: str) -> str:
    return f"lockout:{email}"


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
        journal: RevocationJournal | None = None,
    ) -> None:
        self._redis = redis
        self._journal = journal
        self._access_ttl = settings.tunables.jwt_access_ttl
        self._refresh_ttl = settings.tunables.jwt_refresh_ttl
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

    async def put_session(
        self, sid: str, record: SessionRecord, *, clear_lockout_of: str | None = None
    ) -> None:
        """Store the session; with `clear_lockout_of`, also end that email's lockout count (a successful
        login), in the same round trip."""
        key, raw = session_key(sid), record.to_json()
        ttl = max(1, int(record.expires_at - time.time()))

        async def remote() -> None:
            if clear_lockout_of is None:
                await self._redis.set(key, raw, ex=ttl)
                return
            lockout = lockout_key(clear_lockout_of)
            await self._redis.pipeline("set", lambda p: (p.set(key, raw, ex=ttl), p.delete(lockout)))

        def local() -> None:
            self._pending[key] = True

        self._sessions.put(key, raw, record.expires_at)
        if clear_lockout_of is not None:
            self._failures.pop(lockout_key(clear_lockout_of))
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
        """End a session: its refresh token stops working and every access token it issued is refused."""
        key = session_key(sid)
        # Its last access token was issued at most now: none outlives one access-token lifetime.
        until = time.time() + self._access_ttl

        async def remote() -> None:
            await self._write_session_end(sid, until)

        def local() -> None:
            self._pending[key] = False

        self._sessions.pop(key)
        self.revocations.add_session(sid, until)
        await self._redis_or_memory("session_delete", remote, local)
        if key in self._pending and self._journal is not None:
            # Until Redis hears of it, the session itself may still be there (for its whole lifetime).
            await self._journal.record(RevocationKind.SESSION, sid, time.time() + self._refresh_ttl)

    def has_local_session(self, sid: str) -> bool:
        """Whether this process knows the session (for sessions made while Redis was down, not yet synced)."""
        key = session_key(sid)
        return self._pending.get(key) is True and self._sessions.get(key) is not None

    # -- blacklist ------------------------------------------------------------------------------

    async def revoke(self, jti: str, expires_at: int) -> None:
        """Blacklist an access token until it would have expired anyway."""
        self.revocations.add(jti, expires_at)
        key = blacklist_key(jti)

        async def remote() -> None:
            await self._write_revocation(jti, expires_at)

        def local() -> None:
            self._pending[key] = True

        await self._redis_or_memory("blacklist_put", remote, local)
        if key in self._pending and self._journal is not None:
            await self._journal.record(RevocationKind.TOKEN, jti, expires_at)

    async def _write_session_end(self, sid: str, until: float) -> None:
        """Delete `session:<sid>` and log the session's revocation for the other services."""
        await self._redis.pipeline(
            "session_delete",
            lambda p: (
                p.delete(session_key(sid)),
                append_to_log(p, RevocationKind.SESSION, sid, until, keep_for=self._access_ttl),
            ),
        )

    async def _write_revocation(self, jti: str, expires_at: float) -> None:
        """`blacklist:<jti>` for the per-request check, and an entry of the log other services follow."""
        ttl = max(1, int(expires_at - time.time()))
        await self._redis.pipeline(
            "blacklist_put",
            lambda p: (
                p.set(blacklist_key(jti), "1", ex=ttl),
                append_to_log(p, RevocationKind.TOKEN, jti, expires_at, keep_for=self._access_ttl),
            ),
        )

    # -- lockout --------------------------------------------------------------------------------

    async def count_attempt(self, email: str) -> int:
        """Count one login attempt before its password is checked; returns the attempts in the current
        lockout window, this one included.

        Counting first, in one atomic step, is what makes the lockout hold: read-then-check-then-count
        let a burst of parallel guesses all read the same count and all be checked. A successful login
        ends the count (`put_session(..., clear_lockout_of=email)`).
        """
        key = lockout_key(email)

        async def remote() -> int:
            # SET NX EX starts the window at the first attempt (no EXPIRE NX: Redis 6.2 must work too);
            # INCR keeps the expiry. One MULTI: one round trip, nothing in between.
            _, count = await self._redis.pipeline(
                "lockout_incr",
                lambda p: (p.set(key, 0, ex=self._lock_window, nx=True), p.incr(key)),
                transaction=True,
            )
            return int(count)

        def local() -> int:
            count = int(self._failures.get(key) or 0) + 1
            self._failures.put(
                key, str(count), self._failures.expires_at(key) or time.time() + self._lock_window
            )
            return count

        return await self._redis_or_memory("lockout_incr", remote, local)

    async def give_back_attempt(self, email: str) -> None:
        """Uncount an attempt whose password was never checked (the user store did not answer): an
        outage of the SQL store must not lock people out of their accounts once it is over."""
        key = lockout_key(email)

        async def remote() -> int:
            [count] = await self._redis.pipeline("lockout_decr", lambda p: (p.decr(key),))
            return int(count)

        def local() -> int:
            count = max(0, int(self._failures.get(key) or 0) - 1)
            self._failures.put(
                key, str(count), self._failures.expires_at(key) or time.time() + self._lock_window
            )
            return count

        await self._redis_or_memory("lockout_decr", remote, local)

    def is_locked(self, attempts: int) -> bool:
        """Whether the attempt numbered `attempts` (from `count_attempt`) comes after too many."""
        return attempts > self._lock_max

    # -- resync ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def restore(self) -> int:
        """Reload the revocations a previous run made while Redis was down and had not written back yet
        (the journal); they are refused at once, and written to Redis by the next `sync`."""
        if self._journal is None:
            return 0
        try:
            restored = await self._journal.pending()
        except ServiceError as exc:
            log.warning("revocations journal unreadable, none restored: %s", exc.message)
            return 0
        for entry in restored:
            if entry.kind is RevocationKind.TOKEN:
                self.revocations.add(entry.ident, entry.until)
                self._pending[blacklist_key(entry.ident)] = True
            else:
                self.revocations.add_session(entry.ident, min(entry.until, time.time() + self._access_ttl))
                self._sessions.pop(session_key(entry.ident))
                self._pending[session_key(entry.ident)] = False
        return len(restored)

    async def sync(self) -> int:
        """Write what changed while Redis was down back to Redis; returns how many keys were written."""
        if not self._pending or self._redis.recently_down:
            return 0
        done = 0
        for key, keep in list(self._pending.items()):
            written: tuple[RevocationKind, str] | None = None
            try:
                if not keep:
                    sid = key.removeprefix("session:")
                    await self._write_session_end(sid, time.time() + self._access_ttl)
                    written = (RevocationKind.SESSION, sid)
                elif key.startswith("blacklist:"):
                    jti = key.removeprefix("blacklist:")
                    expires_at = self.revocations.expires_at(jti)
                    if expires_at is not None and expires_at > time.time():
                        await self._write_revocation(jti, expires_at)
                    written = (RevocationKind.TOKEN, jti)
                else:
                    raw, until_s = self._sessions.get(key), self._sessions.expires_at(key)
                    if raw is not None and until_s is not None:
                        await self._redis.set(key, raw, ex=max(1, int(until_s - time.time())))
            except RedisUnavailable:
                break
            self._pending.pop(key, None)
            if written is not None and self._journal is not None:
                await self._journal.forget(*written)
            done += 1
        return done
