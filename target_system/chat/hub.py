"""The per-process WebSocket hub: one Redis pub/sub connection, fanned out to this process's sockets.

Every chat process subscribes to the channels of the conversations its connected users belong to
(`chat:conv:<id>`) and to those users' own channels (`chat:user:<id>`, which announce new
conversations). A message published by any process reaches every process that has a member
connected; each dispatches it to its local sockets without awaiting them (a socket's `deliver`
only enqueues), so one slow consumer never holds up the others.

When Redis goes away, PUBSUB_RECONNECT decides what the reader does. On, it reconnects with backoff
and subscribes everything again; sockets stay open meanwhile (clients can use the polling endpoint to
catch up). Off, it behaves as the chaos readiness analysis found the unfixed hub ("Chat Pub/Sub
FAIL-CLOSED: subscription fails"): the reader subscribes once, and when its connection is lost it logs
once and ends. Nothing starts it again, so after Redis is back every send is published and nobody in this
process receives it, until the service restarts. `chat_pubsub_reader_dead` says so, and `ready` lets a
dependency-aware /health/ready report it (liveness stays trivial: the process itself is fine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from target_system.common.metrics import ServiceMetrics

_log = logging.getLogger(__name__)

CONTROL_CHANNEL = "chat:hub"  # always subscribed, so the reader always has a live subscription
SUBSCRIBE_ACK_TIMEOUT = 2.0
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


USER_CHANNEL_PREFIX = "chat:user:"


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"chat:conv:{conversation_id}"


def user_channel(user_id: str) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


class PubSubReaderDead(RuntimeError):
    """The reader ended for good (PUBSUB_RECONNECT off): this process receives no pub/sub message."""


class LocalSocket(Protocol):
    """A WebSocket of this process as the hub sees it."""

    @property
    def user_id(self) -> str: ...

    def deliver(self, text: str) -> None:
        """Queue `text` for sending; never blocks."""
        ...


class Hub:
    """Subscriptions with reference counts, one reader task, dispatch to local sockets."""

    def __init__(
        self, redis: Redis, *, reconnect: bool = True, metrics: ServiceMetrics | None = None
    ) -> None:
        # The client's pool lends the hub one dedicated connection for pub/sub; its owner closes it.
        self._redis = redis
        self._reconnect = reconnect  # PUBSUB_RECONNECT
        service = metrics or ServiceMetrics("chat")  # a registry of its own where nobody scrapes it
        self._lost = service.counter(
            "chat_pubsub_connection_lost_total", "Times the hub's pub/sub connection to Redis was lost"
        ).labels(service=service.service)
        self._dead = service.gauge(
            "chat_pubsub_reader_dead", "1 once the hub's pub/sub reader ended for good (PUBSUB_RECONNECT off)"
        ).labels(service=service.service)
        self.dead = False
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._refcount: dict[str, int] = {}
        self._sockets_by_channel: dict[str, set[LocalSocket]] = {}
        self._channels_of: dict[LocalSocket, set[str]] = {}
        self._acked: set[str] = set()
        self._ack_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever(), name="chat-hub-reader")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._drop_pubsub()

    # -- local sockets -------------------------------------------------------------------------

    async def join(self, socket: LocalSocket, conversation_ids: list[uuid.UUID]) -> None:
        """Route the user's channel and these conversations to `socket`; wait (bounded) for Redis's ack."""
        channels = {user_channel(socket.user_id), *(conversation_channel(c) for c in conversation_ids)}
        await self._add(socket, channels)

    async def add_conversation(self, user_id: str, conversation_id: uuid.UUID) -> None:
        """A conversation `user_id` just joined: route it to every local socket of that user."""
        channel = conversation_channel(conversation_id)
        for socket in list(self._sockets_by_channel.get(user_channel(user_id), ())):
            if channel not in self._channels_of.get(socket, set()):
                await self._add(socket, {channel})

    def is_routed(self, socket: LocalSocket, conversation_id: uuid.UUID) -> bool:
        return conversation_channel(conversation_id) in self._channels_of.get(socket, set())

    async def leave(self, socket: LocalSocket) -> None:
        gone: list[str] = []
        for channel in self._channels_of.pop(socket, set()):
            sockets = self._sockets_by_channel.get(channel)
            if sockets is not None:
                sockets.discard(socket)
                if not sockets:
                    del self._sockets_by_channel[channel]
            self._refcount[channel] -= 1
            if self._refcount[channel] == 0:
                del self._refcount[channel]
                gone.append(channel)
        pubsub = self._pubsub
        if gone and pubsub is not None:
            for channel in gone:
                self._acked.discard(channel)
            try:
                await pubsub.unsubscribe(*gone)
            except Exception as exc:  # the reader will notice the broken connection
                _log.info("unsubscribe failed: %r", exc)

    async def _add(self, socket: LocalSocket, channels: set[str]) -> None:
        mine = self._channels_of.setdefault(socket, set())
        new: list[str] = []
        for channel in channels - mine:
            mine.add(channel)
            self._sockets_by_channel.setdefault(channel, set()).add(socket)
            count = self._refcount.get(channel, 0)
            self._refcount[channel] = count + 1
            if count == 0:
                new.append(channel)
        pubsub = self._pubsub
        if not new or pubsub is None:
            return  # nothing new, or Redis is down: the reader subscribes everything on reconnect
        waiters = [self._ack_waiter(c) for c in new]
        try:
            await pubsub.subscribe(*new)
            await asyncio.wait_for(asyncio.gather(*waiters), SUBSCRIBE_ACK_TIMEOUT)
        except Exception as exc:
            _log.info("subscribe of %d channel(s) not confirmed: %r", len(new), exc)

    def _ack_waiter(self, channel: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if channel in self._acked:
            future.set_result(None)
        else:
            self._ack_waiters.setdefault(channel, []).append(future)
        return future

    # -- the reader ------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                attempt = 0
                await self._read_until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                self._lost.inc()
                await self._drop_pubsub()
                if not self._reconnect:
                    self._give_up(exc)
                    return
                delay = RECONNECT_BACKOFF[min(attempt, len(RECONNECT_BACKOFF) - 1)]
                attempt += 1
                _log.warning("pub/sub connection lost (%r); reconnecting in %.2fs", exc, delay)
                await asyncio.sleep(delay)

    async def _read_until_lost(self) -> None:
        while True:
            assert self._pubsub is not None
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None:
                self.dispatch(message)

    def _give_up(self, exc: Exception) -> None:
        """PUBSUB_RECONNECT off: the unfixed reader's end. Subscriptions stay recorded, never made again."""
        self.dead = True
        self._dead.set(1)
        _log.error(
            "pub/sub reader ended (%r); WebSockets of this process get no message until it restarts "
            "(PUBSUB_RECONNECT off)",
            exc,
        )

    async def ready(self) -> None:
        """A readiness check: raises once the reader has ended for good (a reconnecting one is not dead)."""
        if self.dead:
            raise PubSubReaderDead("pub/sub reader ended; restart the service to subscribe again")

    async def _connect(self) -> None:
        pubsub = self._redis.pubsub()
        snapshot = set(self._refcount)
        try:
            await pubsub.subscribe(CONTROL_CHANNEL, *snapshot)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        self._acked.clear()
        # Sockets that joined while we were subscribing saw no pubsub and skipped it: catch them up.
        self._pubsub = pubsub
        missing = set(self._refcount) - snapshot
        if missing:
            await pubsub.subscribe(*missing)
        self.connected.set()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._acked.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def dispatch(self, message: dict[str, Any]) -> None:
        """Handle one message from the pub/sub connection (acks, user events, conversation events)."""
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "subscribe":
            self._acked.add(channel)
            for future in self._ack_waiters.pop(channel, []):
                if not future.done():
                    future.set_result(None)
            return
        if kind != "message":
            return
        if channel.startswith(USER_CHANNEL_PREFIX):
            self._on_user_event(channel.removeprefix(USER_CHANNEL_PREFIX), message.get("data"))
        sockets = self._sockets_by_channel.get(channel)
        if not sockets:
            return
        text = _text(message.get("data"))
        skip_user = _typing_sender(text)
        for socket in list(sockets):
            if socket.user_id != skip_user:
                socket.deliver(text)

    def _on_user_event(self, user_id: str, data: Any) -> None:
        """A user joined a conversation elsewhere: start routing it to their sockets here."""
        try:
            event = json.loads(_text(data))
            conversation_id = uuid.UUID(event["conversation"]["id"])
        except (ValueError, KeyError, TypeError):
            return
        if event.get("type") != "conversation":
            return
        task = asyncio.create_task(self.add_conversation(user_id, conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _typing_sender(text: str) -> str | None:
    """Typing events are not echoed to their sender; everything else goes to every member."""
    if '"typing"' not in text:  # cheap pre-check: messages are the common case
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("type") == "typing":
        user = event.get("user_id")
        return user if isinstance(user, str) else None
    return None
