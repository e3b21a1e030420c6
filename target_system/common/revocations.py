"""Revoked tokens and sessions as every service knows them, so a revocation holds through a Redis outage.

Auth records each revocation twice in Redis: the key the per-request check reads (`blacklist:<jti>`,
or the deleted `session:<sid>`), and an entry of the revocation log, the stream `auth:revocations`
(`kind` token|session, `id`, `until`: when the last access token it concerns expires). Every service
follows that log (`RevocationFeed`) into its `LocalRevocations`, which `Authenticator` consults
before anything else: while Redis is down, a token unknown here gets the fallback of REDIS_FALLBACK,
but a token known to be revoked is refused. The log keeps one access-token lifetime of entries (older
ones concern expired tokens only), so a service that starts reads every revocation still in force.

`LocalRevocations.watching(jti, sid)` also tells an open WebSocket when its token or session is revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings

log = logging.getLogger(__name__)

REVOCATION_LOG = "auth:revocations"
FOLLOW_BLOCK_MS = 1000  # one blocking read waits this long for new entries
FOLLOW_BATCH = 1000
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


class RevocationKind(StrEnum):
    TOKEN = "token"  # one access token, by its jti
    SESSION = "session"  # every access token of a session, by its sid (logout, a replayed refresh token)


Revocation = tuple[RevocationKind, str]


class LocalRevocations:
    """Revoked token and session ids this process knows, each kept until `until` (then dropped)."""

    def __init__(self) -> None:
        self._until: dict[Revocation, float] = {}
        self._waiters: dict[Revocation, set[asyncio.Event]] = {}
        self._prune_above = 1024

    def revoke(self, kind: RevocationKind, ident: str, until: float) -> None:
        key = (kind, ident)
        self._until[key] = max(until, self._until.get(key, 0.0))
        for event in self._waiters.get(key, ()):
            event.set()
        if len(self._until) > self._prune_above:
            self.prune()
            self._prune_above = max(1024, 2 * len(self._until))  # amortised: not a scan per entry

    def add(self, jti: str, expires_at: float) -> None:
        """Revoke one access token until it expires."""
        self.revoke(RevocationKind.TOKEN, jti, expires_at)

    def add_session(self, sid: str, until: float) -> None:
        """Revoke every access token of session `sid` (until the last of them has expired)."""
        self.revoke(RevocationKind.SESSION, sid, until)

    def _in_force(self, key: Revocation) -> bool:
        until = self._until.get(key)
        return until is not None and until > time.time()

    def __contains__(self, jti: object) -> bool:
        return isinstance(jti, str) and self._in_force((RevocationKind.TOKEN, jti))

    def refusal(self, jti: str, sid: str) -> RevocationKind | None:
        """Why a token with this jti and sid is refused (its own revocation first), or None."""
        if self._in_force((RevocationKind.TOKEN, jti)):
            return RevocationKind.TOKEN
        if self._in_force((RevocationKind.SESSION, sid)):
            return RevocationKind.SESSION
        return None

    def expires_at(self, jti: str) -> float | None:
        return self._until.get((RevocationKind.TOKEN, jti))

    def prune(self) -> None:
        now = time.time()
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]

    def __len__(self) -> int:
        return len(self._until)

    @contextlib.contextmanager
    def watching(self, jti: str, sid: str) -> Iterator[asyncio.Event]:
        """An event set when the token `jti` or its session `sid` is revoked (at once if it already is)."""
        event = asyncio.Event()
        keys = [(RevocationKind.TOKEN, jti), (RevocationKind.SESSION, sid)]
        for key in keys:
            self._waiters.setdefault(key, set()).add(event)
        if self.refusal(jti, sid) is not None:
            event.set()
        try:
            yield event
        finally:
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[key]


def append_to_log(pipe: Any, kind: RevocationKind, ident: str, until: float, *, keep_for: float) -> Any:
    """Queue on `pipe` one revocation log entry, trimming entries older than `keep_for` seconds."""
    oldest_ms = int((time.time() - keep_for) * 1000)
    return pipe.xadd(
        REVOCATION_LOG,
        {"kind": kind.value, "id": ident, "until": f"{until:.3f}"},
        minid=f"{max(0, oldest_ms)}-0",
        approximate=True,
    )


class RevocationFeed:
    """Follows the revocation log into a `LocalRevocations`, from the log's start, for the life of the
    process; reconnects with backoff after Redis trouble.

    It has a Redis connection of its own, outside the switches: a blocking read of the log is no
    request, and its failures must not mark Redis down for the request paths (`recently_down`).
    `revocation_feed_entries_total{service}` counts the entries applied.
    """

    def __init__(self, settings: Settings, revocations: LocalRevocations, metrics: ServiceMetrics) -> None:
        self.revocations = revocations
        self._client = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=FOLLOW_BLOCK_MS / 1000 + 2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
        self._last_id = "0-0"
        self._task: asyncio.Task[None] | None = None
        self._applied = metrics.counter(
            "revocation_feed_entries_total", "Revocation log entries this process learnt", ("service",)
        ).labels(metrics.service)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="revocation-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._client.aclose()

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                answer: Any = await self._client.xread(
                    {REVOCATION_LOG: self._last_id}, count=FOLLOW_BATCH, block=FOLLOW_BLOCK_MS
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any loss (uvloop even reports a reset as RuntimeError): retry
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                if failures == 1:
                    log.warning("revocation log unreadable (%r); retrying", exc)
                await asyncio.sleep(delay)
                continue
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    self._apply(fields)
                    self._last_id = entry_id

    def _apply(self, fields: dict[str, str]) -> None:
        try:
            kind = RevocationKind(fields["kind"])
            until = float(fields["until"])
            ident = fields["id"]
        except (KeyError, ValueError):
            return
        if until > time.time():
            self.revocations.revoke(kind, ident, until)
        self._applied.inc()
