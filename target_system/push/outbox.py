"""The push outbox (PUSH_OUTBOX): notifications the provider refused, kept in SQL and sent once it answers.

Without it (the reports' behaviour: "logs error, continues"), a notification the provider refuses
(5xx, 429, a timeout, no connection) is logged and gone. With it, the notification is written to
`push_outbox` in the CockroachDB-role store push already reads chat's members from, so it outlives a
push restart, and a dispatcher in each push process sends it again:

- while the provider refuses, one kept notification is tried at a time (a probe), after a pause with
  exponential backoff and full jitter, capped at `push_outbox_backoff_cap` (longer only if Retry-After
  asks): a provider that is down gets one call every second or two from the outbox, not a retry storm;
- once a probe goes through, or a live notification does, the outbox drains in batches with at most
  `push_outbox_concurrency` sends in flight;
- bounded: a notification still refused `push_outbox_max_age` after it was kept is dropped, and no
  more than `push_outbox_max_depth` are kept; every drop is counted by reason.

Delivery is at least once: a send that timed out may have reached the provider, and a row whose
delete failed is sent again. Every notification carries its chat message's `idempotency_key`, by
which the app on the device shows it once. Only refused notifications are written, so SQL stays off
the path of every notification that goes through; the price is that a notification in flight when
push stops (not yet refused) is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from target_system.common.sql import SqlStore
from target_system.push.metrics import PushMetrics
from target_system.push.provider import ProviderClient, SendOutcome, SendResult
from target_system.push.tunables import PushTunables

log = logging.getLogger(__name__)

# Ids are made in Python (no SERIAL) and every statement is idempotent: PostgreSQL and CockroachDB.
# Times are epoch seconds from push's clock, the one that decides ages and order.
OUTBOX_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS push_outbox (
        id UUID PRIMARY KEY,
        token TEXT NOT NULL,
        notification TEXT NOT NULL,
        data TEXT NOT NULL,
        attempts INT NOT NULL,
        kept_at DOUBLE PRECISION NOT NULL,
        queued_at DOUBLE PRECISION NOT NULL,
        last_error TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS push_outbox_by_queue ON push_outbox (queued_at)",
)

_ID_NAMESPACE = uuid.UUID("6f1c3a52-5b0e-4c55-9d1e-2a7f0c1d9e34")
RETRY_AFTER_CAP_S = 60.0  # a provider asking for longer is asked again after a minute


class DropReason(StrEnum):
    """Why a refused notification was given up (`push_outbox_dropped_total{reason}`)."""

    NO_OUTBOX = "no_outbox"  # PUSH_OUTBOX off: logged and dropped, as the reports found it
    STORE = "store_unavailable"  # the SQL store did not take it
    FULL = "full"  # `push_outbox_max_depth` reached
    EXPIRED = "expired"  # still refused after `push_outbox_max_age`
    REJECTED = "rejected"  # the provider later refused it for good (4xx)
    UNREGISTERED = "unregistered"  # the device's token died meanwhile


@dataclass(frozen=True, slots=True)
class KeptNotification:
    """One row of the outbox: a notification for one device."""

    id: uuid.UUID
    token: str
    notification: dict[str, Any]
    data: dict[str, str]
    attempts: int
    kept_at: float

    @classmethod
    def of(
        cls, token: str, notification: dict[str, Any], data: dict[str, str], now: float
    ) -> KeptNotification:
        # One row per device and chat message: keeping the same notification twice keeps it once.
        message = data.get("message_id")
        key = uuid.uuid5(_ID_NAMESPACE, f"{token}\n{message}") if message else uuid.uuid4()
        return cls(key, token, notification, data, 1, now)

    @classmethod
    def from_row(cls, row: Any) -> KeptNotification:
        return cls(
            id=row["id"],
            token=str(row["token"]),
            notification=json.loads(row["notification"]),
            data=json.loads(row["data"]),
            attempts=int(row["attempts"]),
            kept_at=float(row["kept_at"]),
        )


class OutboxTable:
    """The `push_outbox` table; SQL errors surface as `SqlUnavailable` (or asyncpg's own)."""

    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def create(self) -> None:
        await self._sql.migrate(OUTBOX_SCHEMA)

    async def keep(self, entry: KeptNotification, error: str) -> None:
        await self._sql.execute(
            "INSERT INTO push_outbox"
            " (id, token, notification, data, attempts, kept_at, queued_at, last_error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (id) DO NOTHING",
            entry.id,
            entry.token,
            json.dumps(entry.notification),
            json.dumps(entry.data),
            entry.attempts,
            entry.kept_at,
            error[:500],
        )

    async def oldest(self, limit: int) -> list[KeptNotification]:
        """The `limit` notifications queued longest (a refused one goes to the back of the queue)."""
        rows = await self._sql.fetch(
            "SELECT id, token, notification, data, attempts, kept_at FROM push_outbox"
            " ORDER BY queued_at, id LIMIT $1",
            limit,
        )
        return [KeptNotification.from_row(row) for row in rows]

    async def requeue(self, entry: KeptNotification, error: str, now: float) -> None:
        await self._sql.execute(
            "UPDATE push_outbox SET attempts = attempts + 1, queued_at = $2, last_error = $3 WHERE id = $1",
            entry.id,
            now,
            error[:500],
        )

    async def remove(self, entry: KeptNotification) -> None:
        await self._sql.execute("DELETE FROM push_outbox WHERE id = $1", entry.id)

    async def depth(self) -> int:
        return int(await self._sql.fetchval("SELECT count(*) FROM push_outbox"))


def backoff(failures: int, base: float, cap: float, asked: float | None = None) -> float:
    """The pause after `failures` refusals in a row: full jitter below min(cap, base * 2^(failures-1)),
    never shorter than a Retry-After the provider `asked` (itself capped at RETRY_AFTER_CAP_S)."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    pause = random.uniform(0, ceiling)
    if asked is not None:
        pause = max(pause, min(asked, RETRY_AFTER_CAP_S))
    return pause


class Outbox:
    """Keeps refused notifications (`keep`) and sends them again (`run`, one task per push process)."""

    def __init__(
        self,
        table: OutboxTable,
        provider: ProviderClient,
        metrics: PushMetrics,
        tunables: PushTunables,
        *,
        retire: Callable[[str], Awaitable[None]],
    ) -> None:
        self._table = table
        self._provider = provider
        self._metrics = metrics
        self._tunables = tunables
        self._retire = retire
        self._slots = asyncio.Semaphore(max(1, tunables.push_outbox_concurrency))
        self._kept = asyncio.Event()  # something was kept: an idle dispatcher looks again
        self._answered = asyncio.Event()  # a live notification went through: a pausing one drains now
        self._depth = 0  # as last counted, plus what was kept since
        service = metrics.service
        self._depth_gauge = metrics.outbox_depth.labels(service)
        self._kept_count = metrics.outbox_kept.labels(service)
        self._sent_count = metrics.outbox_sent.labels(service)
        for reason in DropReason:  # every reason shows on /metrics from the start, at 0
            metrics.outbox_dropped.labels(service, reason.value)

    def _drop(self, reason: DropReason, count: int = 1) -> None:
        self._metrics.outbox_dropped.labels(self._metrics.service, reason.value).inc(count)

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        self._depth_gauge.set(depth)

    async def keep(
        self, token: str, notification: dict[str, Any], data: dict[str, str], why: SendResult
    ) -> None:
        """Keep a notification the provider refused; never raises (one it cannot keep is dropped, counted)."""
        if self._depth >= self._tunables.push_outbox_max_depth:
            self._drop(DropReason.FULL)
            log.warning("push outbox full (%d kept): a notification is dropped", self._depth)
            return
        entry = KeptNotification.of(token, notification, data, time.time())
        try:
            await self._table.keep(entry, why.detail or why.outcome.value)
        except Exception as exc:
            self._drop(DropReason.STORE)
            log.warning("a refused notification could not be kept: %s", exc)
            return
        self._kept_count.inc()
        self._set_depth(self._depth + 1)
        self._kept.set()

    def provider_answered(self) -> None:
        """A live notification went through: the provider is back, stop pausing."""
        if self._depth > 0:
            self._answered.set()

    async def run(self) -> None:
        """Send kept notifications again until cancelled; the table is created first."""
        await self._create_table()
        failures = 0
        while True:
            self._kept.clear()
            self._answered.clear()
            try:
                refused = await self._round()
            except Exception as exc:  # the store is down or slow: every row stays, try again later
                log.warning("push outbox round failed: %s", exc)
                refused = SendResult(SendOutcome.UNREACHABLE, 0, detail=str(exc))
            if refused is None:
                failures = 0
                if self._depth == 0:
                    await self._kept.wait()
                continue
            failures += 1
            base, cap = self._tunables.push_outbox_backoff_base, self._tunables.push_outbox_backoff_cap
            await self._pause(backoff(failures, base, cap, refused.retry_after))

    async def _create_table(self) -> None:
        failures = 0
        while True:
            try:
                await self._table.create()
                return
            except Exception as exc:  # SQL is a soft dependency of push: wait for it, do not die
                failures += 1
                log.warning("push outbox table not created yet: %s", exc)
                await asyncio.sleep(backoff(failures, 0.5, 5.0))

    async def _pause(self, seconds: float) -> None:
        # A new refusal does not end the pause (it would make the probe rate the refusal rate);
        # a live notification that went through does.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answered.wait(), timeout=seconds)

    async def _round(self) -> SendResult | None:
        """Send the oldest batch; the first refusal met (the rest of the batch waits), or None."""
        batch = await self._table.oldest(max(1, self._tunables.push_outbox_batch))
        refused: SendResult | None = None
        if batch:
            # One probe first: while the provider refuses, it sees one call per pause, not a batch.
            refused = await self._resend(batch[0])
            if refused is None and len(batch) > 1:
                results = await asyncio.gather(*(self._bounded(e) for e in batch[1:]), return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise errors[0]
                refused = next((r for r in results if isinstance(r, SendResult)), None)
        self._set_depth(await self._table.depth())
        return refused

    async def _bounded(self, entry: KeptNotification) -> SendResult | None:
        async with self._slots:
            return await self._resend(entry)

    async def _resend(self, entry: KeptNotification) -> SendResult | None:
        """One more attempt (the outbox is the retry: no inner retries); the refusal, or None."""
        result = await self._provider.send(entry.token, entry.notification, entry.data, retry=False)
        if result.refused:
            now = time.time()
            if now - entry.kept_at < self._tunables.push_outbox_max_age:
                await self._table.requeue(entry, result.detail or result.outcome.value, now)
            else:
                await self._table.remove(entry)
                self._drop(DropReason.EXPIRED)
                age, tries = now - entry.kept_at, entry.attempts + 1
                log.warning("notification refused %d times in %.0fs, dropped: %s", tries, age, result.detail)
            return result
        await self._table.remove(entry)
        if result.outcome is SendOutcome.DELIVERED:
            self._sent_count.inc()
        elif result.outcome is SendOutcome.UNREGISTERED:
            self._drop(DropReason.UNREGISTERED)
            await self._retire(entry.token)
        else:
            self._drop(DropReason.REJECTED)
            log.info("a kept notification was rejected: %s", result.detail)
        return None
