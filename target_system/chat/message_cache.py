"""The recent-messages cache and the guard that puts timeouts and the cache fallback around the store."""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from target_system.chat.message_store import Appended, MessageStore
from target_system.chat.metrics import ChatMetrics
from target_system.chat.models import HistoryPage, Message
from target_system.common.errors import Unavailable

_log = logging.getLogger(__name__)
T = TypeVar("T")


class _Bucket:
    """One conversation's cached messages: ids kept sorted (oldest first) beside the messages by id."""

    __slots__ = ("by_id", "ids")

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []
        self.by_id: dict[uuid.UUID, Message] = {}


class RecentMessages:
    """The last `per_conversation` messages of the `max_conversations` most recently used conversations."""

    def __init__(self, *, per_conversation: int = 100, max_conversations: int = 10_000) -> None:
        self._per_conversation = per_conversation
        self._max_conversations = max_conversations
        self._by_conversation: OrderedDict[uuid.UUID, _Bucket] = OrderedDict()

    def remember(self, conversation_id: uuid.UUID, messages: Iterable[Message]) -> None:
        bucket = self._by_conversation.get(conversation_id)
        if bucket is None:
            bucket = self._by_conversation[conversation_id] = _Bucket()
            if len(self._by_conversation) > self._max_conversations:
                self._by_conversation.popitem(last=False)
        else:
            self._by_conversation.move_to_end(conversation_id)
        for message in messages:
            if message.id not in bucket.by_id:
                # New messages have the newest ids, so this appends in the common case.
                bisect.insort(bucket.ids, message.id)
            bucket.by_id[message.id] = message
        while len(bucket.ids) > self._per_conversation:
            del bucket.by_id[bucket.ids.pop(0)]

    def _newest_first(self, conversation_id: uuid.UUID) -> list[Message]:
        bucket = self._by_conversation.get(conversation_id)
        if bucket is None:
            return []
        return [bucket.by_id[i] for i in reversed(bucket.ids)]

    def page(self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int) -> HistoryPage:
        newest_first = self._newest_first(conversation_id)
        older = [m for m in newest_first if before is None or m.id < before]
        # Only promise an older page when the cache itself holds one.
        return HistoryPage.first(older, limit)

    def after(self, conversation_id: uuid.UUID, *, after: uuid.UUID | None, limit: int) -> list[Message]:
        oldest_first = list(reversed(self._newest_first(conversation_id)))
        if after is None:
            return oldest_first[-limit:]
        return [m for m in oldest_first if m.id > after][:limit]


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """How the guard treats the store: `timeout` None waits forever; `cache_fallback` reads from cache.

    `retries` store errors are retried with exponential backoff in every profile: the unfixed code
    already had gocql's `ExponentialBackoffRetryPolicy{NumRetries: 3}` (chaos readiness analysis #2),
    whose sleep is `retry_min * 2**(n-1)` +- `retry_min / 2`, capped at `retry_max` (gocql's defaults:
    100 ms and 10 s). With a timeout, no retry starts after the deadline (gocql stops retrying once the
    context is done). Retries only follow errors: a store that is slow but answers is waited for.
    """

    timeout: float | None
    cache_fallback: bool
    retries: int = 0
    retry_min: float = 0.1
    retry_max: float = 10.0

    def backoff(self, retry: int) -> float:
        """The sleep before retry number `retry` (1-based), jittered as gocql does."""
        nap = self.retry_min * 2 ** (retry - 1) + random.uniform(-self.retry_min / 2, self.retry_min / 2)
        return max(0.0, min(nap, self.retry_max))


class GuardedMessageStore:
    """Wraps a MessageStore with the switches: per-call timeouts and, for reads, the recent-messages cache.

    Reads return `(result, degraded)`; degraded means the answer came from the cache.
    """

    def __init__(
        self, store: MessageStore, *, policy: StorePolicy, cache: RecentMessages, metrics: ChatMetrics
    ) -> None:
        self._store = store
        self._policy = policy
        self._cache = cache
        self._metrics = metrics
        self._abandoned: set[asyncio.Future[Any]] = set()

    async def _retrying(
        self, operation: Callable[[], Awaitable[T]], deadline: float | None, retries: int
    ) -> T:
        retry = 0
        while True:
            try:
                return await operation()
            except Unavailable:
                retry += 1
                if retry > retries:
                    raise
                pause = self._policy.backoff(retry)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise
                self._metrics.store_retries.inc()
                await asyncio.sleep(pause)

    async def _call(self, call: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
        retries = self._policy.retries if retry else 0
        if self._policy.timeout is None:
            return await self._retrying(call, None, retries)
        operation = self._retrying(call, time.monotonic() + self._policy.timeout, retries)
        # The call runs as its own task and is abandoned (not cancelled) at the deadline: cancelling an
        # asyncpg query waits for the server to acknowledge the cancel, which under a latency fault
        # is as slow as the query itself. The abandoned task ends on its own (the pool's timeouts).
        task = asyncio.ensure_future(operation)
        try:
            done, _ = await asyncio.wait({task}, timeout=self._policy.timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done:
            return task.result()
        self._metrics.store_timeouts.inc()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        raise TimeoutError(f"message store gave no answer within {self._policy.timeout}s")

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.debug("abandoned message-store call failed: %r", task.exception())

    async def append(
        self,
        conversation_id: uuid.UUID,
        sender_id: str,
        body: str,
        idempotency_key: str,
        *,
        message_id: uuid.UUID | None = None,
    ) -> Appended:
        try:
            appended = await self._call(
                lambda: self._store.append(
                    conversation_id, sender_id, body, idempotency_key, message_id=message_id
                )
            )
        except TimeoutError as exc:
            # A write cannot be served from cache: refuse cleanly so the client retries with its key.
            raise Unavailable("message store timed out") from exc
        if self._policy.cache_fallback:
            self._cache.remember(conversation_id, (appended.message,))
        return appended

    async def history(
        self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> tuple[HistoryPage, bool]:
        try:
            page = await self._call(lambda: self._store.history(conversation_id, before=before, limit=limit))
        except Exception as exc:
            if not self._policy.cache_fallback:
                if isinstance(exc, TimeoutError):
                    raise Unavailable("message store timed out") from exc
                raise
            _log.warning("message store failed (%r); answering history from cache", exc)
            self._metrics.history_cache_hits.inc()
            return self._cache.page(conversation_id, before=before, limit=limit), True
        if self._policy.cache_fallback:
            self._cache.remember(conversation_id, page.messages)
        return page, False

    async def after(
        self, conversation_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> tuple[list[Message], bool]:
        try:
            messages = await self._call(lambda: self._store.after(conversation_id, after=after, limit=limit))
        except Exception as exc:
            if not self._policy.cache_fallback:
                if isinstance(exc, TimeoutError):
                    raise Unavailable("message store timed out") from exc
                raise
            _log.warning("message store failed (%r); answering poll from cache", exc)
            self._metrics.history_cache_hits.inc()
            return self._cache.after(conversation_id, after=after, limit=limit), True
        if self._policy.cache_fallback:
            self._cache.remember(conversation_id, messages)
        return messages, False

    async def ready(self) -> None:
        await self._call(self._store.ready, retry=False)  # a health check reports, it does not retry
