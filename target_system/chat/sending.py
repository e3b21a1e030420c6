"""How a chat send reaches the message store: stored first (PERSIST_FIRST), or acknowledged first and
written behind by a bounded background queue, as the unfixed send path did for latency.

Write-behind (PERSIST_FIRST off): the send builds the message (its id and time), hands it to the queue,
and the route broadcasts it and answers 201 before the store has it. Writer tasks then store it
through the same guarded store as every other call (the profile's timeouts and gocql-style retries).
A message the queue cannot take (full: `SC_CHAT_PERSIST_QUEUE`) or the store refuses for good (an
error after the retries, a timeout, a full disk) is dropped: one error log line naming it and
`chat_message_persist_dropped_total{reason}`. The sender, the other members' sockets and push were all
told it exists; history never will be. That is the loss the chaos readiness analysis reports for a
failing message store ("Messages not saved", scenario #2).

Persist first (PERSIST_FIRST on): the route waits for the store, so a store failure answers a clean
error (how fast: MESSAGE_CACHE / STORE_TIMEOUTS) and nothing acknowledged can be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from target_system.chat.ids import id_time, new_message_id
from target_system.chat.message_cache import GuardedMessageStore
from target_system.chat.message_store import Appended
from target_system.chat.metrics import ChatMetrics, DropReason
from target_system.chat.models import Message

_log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_S = 2.0  # on a graceful stop, how long queued writes may still land


class WriteBehind:
    """A bounded queue of acknowledged messages and the writer tasks that store them."""

    def __init__(
        self, store: GuardedMessageStore, metrics: ChatMetrics, *, queue_limit: int, writers: int
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._queue: asyncio.Queue[Message] = asyncio.Queue(queue_limit)
        self._writers = writers
        self._tasks: list[asyncio.Task[None]] = []

    def submit(self, message: Message) -> None:
        """Queue `message` for storing; never waits (the sender is answered regardless)."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._drop(message, DropReason.QUEUE_FULL, f"write-behind queue full ({self._queue.maxsize})")
            return
        self._metrics.persist_queued.inc()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_forever(), name=f"chat-write-behind-{n}")
            for n in range(self._writers)
        ]

    async def stop(self) -> None:
        """Let queued writes land for a moment, then give up on the rest (each one logged and counted)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), SHUTDOWN_DRAIN_S)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        while not self._queue.empty():
            message = self._queue.get_nowait()
            self._settle()
            self._drop(message, DropReason.SHUTDOWN, "the service stopped first")

    async def _write_forever(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._write(message)
            finally:
                self._settle()

    async def _write(self, message: Message) -> None:
        try:
            appended = await self._store.append(
                message.conversation_id,
                message.sender_id,
                message.body,
                message.idempotency_key,
                message_id=message.id,
            )
        except asyncio.CancelledError:
            self._drop(message, DropReason.SHUTDOWN, "the service stopped mid-write")
            raise
        except Exception as exc:  # the store's answer, whatever it is, ends this message's only chance
            self._drop(message, DropReason.STORE_FAILED, repr(exc))
            return
        if appended.created:
            self._metrics.messages.inc()

    def _settle(self) -> None:
        self._queue.task_done()
        self._metrics.persist_queued.dec()

    def _drop(self, message: Message, reason: DropReason, why: str) -> None:
        self._metrics.persist_dropped[reason].inc()
        _log.error(
            "acknowledged message %s (conversation %s, idempotency key %r) dropped, never stored: %s",
            message.id, message.conversation_id, message.idempotency_key, why,
        )  # fmt: skip


class MessageSender:
    """The send's store step, in the order PERSIST_FIRST chooses; the route broadcasts and answers after."""

    def __init__(
        self, store: GuardedMessageStore, metrics: ChatMetrics, write_behind: WriteBehind | None
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.write_behind = write_behind  # None: persist first

    async def accept(
        self, conversation_id: uuid.UUID, sender_id: str, body: str, idempotency_key: str
    ) -> Appended:
        """The message to broadcast and answer with; stored already only when persisting first."""
        if self.write_behind is None:
            appended = await self._store.append(conversation_id, sender_id, body, idempotency_key)
            if appended.created:
                self._metrics.messages.inc()
            return appended
        # Acknowledged first: the id is made here, so the answer, the broadcast and the row share it. A
        # retry of an already stored key is not recognised (the store is not asked): it is answered and
        # broadcast as new, and the write-behind keeps the first copy.
        message_id = new_message_id()
        message = Message(message_id, conversation_id, sender_id, body, idempotency_key, id_time(message_id))
        self.write_behind.submit(message)
        return Appended(message, created=True)
