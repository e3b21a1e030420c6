"""One direction of a proxied connection: a pass-through fast path, and a toxic slow path.

While a direction has no active toxic and nothing queued, every chunk read from the source is
written straight to the destination transport in `feed` (no task, no copy, no timer). Once it
gains a toxic, chunks are stamped with their arrival time and queued, and a per-direction task
runs the head chunk through the current toxics; when both the toxics and the queue are gone the
direction falls back to the fast path. Bytes keep their order either way. Any toxic change wakes
the task, so a chunk waiting on a latency or timeout toxic is re-evaluated against the new list.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import Protocol

from chaosgate.proxy.counters import Traffic
from chaosgate.proxy.timer import Timer
from chaosgate.proxy.toxics import TOXIC_TYPES, Toxic, ToxicSpec
from chaosgate.toxics import Stream

# Queued bytes above which the source stops being read (back pressure in the slow path).
QUEUE_HIGH_WATER = 1 << 20


class ConnectionControl(Protocol):
    """What a direction needs from its connection: close it, or reset one side with an RST."""

    def close(self) -> None: ...

    def reset(self, stream: Stream) -> None: ...

    def half_closed(self) -> None:
        """One direction passed its EOF on; the connection closes once both have."""


class Chunk:
    """Bytes read from the source at `arrival` (`time.monotonic()`); `offset` bytes already sent.

    `data` None marks the end of the stream (the source sent EOF).
    """

    __slots__ = ("arrival", "data", "noise", "offset")

    def __init__(self, data: bytes | None, arrival: float, noise: float) -> None:
        self.data = data
        self.arrival = arrival
        self.noise = noise
        self.offset = 0


class _ToxicLink:
    """The `LinkControl` a toxic sees: this direction's timer, closing and resetting."""

    def __init__(self, direction: Direction) -> None:
        self._direction = direction
        self.timer = direction.timer

    def close_connection(self) -> None:
        self._direction.connection.close()

    def reset_connection(self) -> None:
        self._direction.connection.reset(self._direction.stream)


class Direction:
    """Moves bytes from `src` to `dst` through the toxics attached to this stream."""

    def __init__(
        self,
        connection: ConnectionControl,
        stream: Stream,
        src: asyncio.Transport,
        dst: asyncio.Transport,
        timer: Timer,
        rng: random.Random,
        traffic: Traffic | None = None,
    ) -> None:
        self.connection = connection
        # This stream's counters, looked up once: the hot path only adds to its ints.
        self.counted = (traffic or Traffic()).of(stream)
        self.stream = stream
        self.src = src
        self.dst = dst
        self.timer = timer
        self._rng = rng
        self._link = _ToxicLink(self)
        self._attached: dict[str, Toxic] = {}
        self._active: list[Toxic] = []
        self._queue: deque[Chunk] = deque()
        self._queued_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._dst_paused = False
        self._src_paused = False
        self._closed = False
        self.eof_sent = False

    # -- toxics -------------------------------------------------------------------------------

    def set_toxics(self, specs: list[ToxicSpec]) -> None:
        """Make the attached toxics match `specs` (in order); toxicity is rolled per attachment."""
        if self._closed:
            return
        wanted = {spec.name: spec for spec in specs}
        for name in list(self._attached):
            if name not in wanted or wanted[name].type != self._attached[name].kind:
                self._attached.pop(name).stop()
        active: list[Toxic] = []
        for spec in specs:
            toxic = self._attached.get(spec.name)
            if toxic is None:
                toxic = TOXIC_TYPES[spec.type](spec, self._link)
                self._attached[spec.name] = toxic
                toxic.active = self._rng.random() < spec.toxicity
                if toxic.active:
                    toxic.start()
            elif toxic.spec != spec:
                if toxic.active:
                    toxic.stop()
                if spec.toxicity != toxic.spec.toxicity:
                    toxic.active = self._rng.random() < spec.toxicity  # a new probability: roll again
                toxic.spec = spec
                if toxic.active:
                    toxic.start()
            if toxic.active:
                active.append(toxic)
        self._active = active
        self._wake()
        if self._queue:
            self._ensure_task()

    def close(self) -> None:
        """Stop everything this direction runs (the connection is going away)."""
        self._closed = True
        for toxic in self._attached.values():
            toxic.stop()
        self._attached.clear()
        self._active = []
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- data from the source -------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        size = len(data)
        counted = self.counted
        counted.received += size
        if self._task is None and not self._active:
            self.dst.write(data)  # the fast path
            counted.sent += size
            return
        self._queue.append(Chunk(data, time.monotonic(), self._rng.uniform(-1.0, 1.0)))
        self._queued_bytes += size
        self._update_reading()
        self._ensure_task()

    def feed_eof(self) -> None:
        if self._task is None and not self._active:
            self._send_eof()
            return
        self._queue.append(Chunk(None, time.monotonic(), 0.0))
        self._ensure_task()

    # -- flow control: the destination's buffer drives reading of the source --------------------

    def dst_pause(self) -> None:
        self._dst_paused = True
        self._update_reading()

    def dst_resume(self) -> None:
        self._dst_paused = False
        self._update_reading()
        self._wake()

    def _update_reading(self) -> None:
        should_pause = self._dst_paused or self._queued_bytes > QUEUE_HIGH_WATER
        if should_pause != self._src_paused and not self.src.is_closing():
            self._src_paused = should_pause
            if should_pause:
                self.src.pause_reading()
            else:
                self.src.resume_reading()

    # -- the slow path ---------------------------------------------------------------------------

    def _ensure_task(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, deadline: float | None) -> None:
        """Wait until `deadline` (None: until woken) or until anything changes."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        handle = None
        if deadline is not None:
            handle = self.timer.call_at(deadline, self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    async def _drain(self) -> None:
        try:
            while self._queue and not self._closed:
                if not await self._step(self._queue[0]):
                    return
        except (OSError, RuntimeError):
            self.connection.close()  # a socket failed under us: end the connection, not the server
        finally:
            self._task = None

    async def _step(self, chunk: Chunk) -> bool:
        """Make progress on the head chunk; False when the connection is finished."""
        toxics = self._active
        if chunk.data is None:
            delay = max((toxic.close_delay() for toxic in toxics), default=0.0)
            if time.monotonic() < chunk.arrival + delay:
                await self._wait(chunk.arrival + delay)
                return True
            self._queue.popleft()
            self._send_eof()
            return True
        data = chunk.data
        if any(toxic.drops_data() for toxic in toxics):
            self._pop_chunk(chunk)
            return True
        if any(toxic.exhausted() for toxic in toxics):
            self.connection.close()
            return False
        if self._dst_paused:
            await self._wait(None)
            return True
        deadline = chunk.arrival
        for toxic in toxics:
            deadline = max(deadline, toxic.ready_at(chunk.arrival, chunk.noise), toxic.next_send_at())
        if deadline > time.monotonic():
            await self._wait(deadline)
            return True
        remaining = len(data) - chunk.offset
        size = remaining
        for toxic in toxics:
            size = min(size, toxic.max_piece(remaining))
        if size <= 0:
            self.connection.close()
            return False
        self.dst.write(data[chunk.offset : chunk.offset + size] if size < len(data) else data)
        self.counted.sent += size
        chunk.offset += size
        now = time.monotonic()
        for toxic in toxics:
            toxic.on_written(size, now)
        if chunk.offset >= len(data):
            self._pop_chunk(chunk)
        if any(toxic.exhausted() for toxic in toxics):
            self.connection.close()
            return False
        return True

    def _pop_chunk(self, chunk: Chunk) -> None:
        self._queue.popleft()
        self._queued_bytes -= len(chunk.data or b"")
        self._update_reading()

    def _send_eof(self) -> None:
        self.eof_sent = True
        if not self.dst.is_closing() and self.dst.can_write_eof():
            self.dst.write_eof()
            self.connection.half_closed()
        else:
            self.connection.close()
