"""Sub-millisecond timers for an asyncio loop: a timerfd with a heap of deadlines on Linux.

Why hand-rolled: asyncio's and uvloop's timers round to about a millisecond (uvloop's clock and
poll timeout are in whole ms), which alone exceeds the latency toxic's 0.5 ms error budget. A
Linux timerfd armed with an absolute CLOCK_MONOTONIC deadline wakes the loop's poller through a
file descriptor with the kernel's high-resolution timer, so a deadline is met within tens of µs.
Deadlines are `time.monotonic()` values, which on Linux read the same CLOCK_MONOTONIC.

Even a timerfd wakes the process late by the kernel's wake-up latency (0.1-0.5 ms on a virtual
machine). The timer learns that lateness (a moving average), arms that much early, and then
busy-polls the loop until the deadline, so callbacks run at their deadline, not after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import Protocol

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
# Bounds on how early the timerfd is armed, and so on how long the loop may spin (seconds).
MIN_LEAD = 0.00005
MAX_LEAD = 0.001
INITIAL_LEAD = 0.0005


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerHandle(Protocol):
    """What a scheduled callback gives back: a way to cancel it."""

    def cancel(self) -> None: ...


class Timer(Protocol):
    """Schedules a callback at an absolute `time.monotonic()` deadline."""

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle: ...

    def keep_hot(self) -> None: ...

    def close(self) -> None: ...


class _HeapEntry:
    """One deadline in the heap; cancelling marks it so the heap can drop it lazily."""

    __slots__ = ("callback", "cancelled", "deadline", "seq")

    def __init__(self, deadline: float, seq: int, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: _HeapEntry) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class TimerfdTimer:
    """One timerfd per loop, armed for the earliest deadline of a heap of callbacks.

    Near a deadline (within the learned wake-up lateness, `lead`) and for `hot_window` seconds
    after any I/O (`keep_hot`), the loop busy-polls instead of sleeping: a callback re-queued
    with `call_soon` makes the loop poll its sockets with a zero timeout, so neither a timer
    nor the next packet of an exchange pays the kernel's wake-up latency. Both spins are
    bounded in time, so an idle server sleeps.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL, hot_window: float) -> None:
        self._loop = loop
        self._libc = libc
        self._heap: list[_HeapEntry] = []
        self._seq = itertools.count()
        self._armed_at = 0.0
        self._lead = INITIAL_LEAD
        self._late = INITIAL_LEAD / 2
        self._hot_window = hot_window
        self._hot_until = 0.0
        self._spinning = False
        fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd: int = fd
        loop.add_reader(fd, self._on_ready)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        entry = _HeapEntry(deadline, next(self._seq), callback)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry and not self._spinning:
            if deadline - time.monotonic() <= self._lead:
                self._start_spin()
            else:
                self._arm(deadline - self._lead)
        return entry

    def keep_hot(self) -> None:
        """Busy-poll for the hot window: I/O just happened and more is likely to follow at once."""
        if self._hot_window > 0.0:
            self._hot_until = time.monotonic() + self._hot_window
            if not self._spinning:
                self._start_spin()

    def _arm(self, when: float) -> None:
        self._armed_at = when
        spec = _Itimerspec()
        # A zero it_value would disarm the timer; a time in the past must still fire.
        when = max(when, 1e-6)
        spec.it_value.tv_sec = int(when)
        spec.it_value.tv_nsec = int((when - int(when)) * 1e9)
        self._libc.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None)

    def _on_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        if self._armed_at:
            # Learn how late the kernel wakes us, and arm that much (with a margin) early.
            late = time.monotonic() - self._armed_at
            if 0.0 <= late < 0.01:
                self._late = 0.9 * self._late + 0.1 * late
                self._lead = min(MAX_LEAD, max(MIN_LEAD, 2.0 * self._late + MIN_LEAD))
            self._armed_at = 0.0
        if not self._spinning:
            self._start_spin()

    def _start_spin(self) -> None:
        # Through the loop, never inline: a callback must not run inside `call_at` or `keep_hot`.
        self._spinning = True
        self._loop.call_soon(self._spin)

    def _spin(self) -> None:
        now = time.monotonic()
        heap = self._heap
        while heap and (heap[0].cancelled or heap[0].deadline <= now):
            entry = heapq.heappop(heap)
            if not entry.cancelled:
                try:
                    entry.callback()
                except Exception as exc:  # one failing callback must not stop the timer
                    self._loop.call_exception_handler({"message": "timer callback failed", "exception": exc})
        if heap and heap[0].deadline - now <= self._lead:
            self._loop.call_soon(self._spin)
            return
        if now < self._hot_until:
            # Hand the CPU to any other runnable process first: on a busy machine the spin then
            # costs others nothing, on an idle one the yield returns at once.
            os.sched_yield()
            self._loop.call_soon(self._spin)
            return
        self._spinning = False
        if heap:
            self._arm(heap[0].deadline - self._lead)

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._heap.clear()
        self._hot_until = 0.0


class LoopTimer:
    """The portable fallback: the loop's own (millisecond-grained) timers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_later(max(0.0, deadline - time.monotonic()), callback)

    def keep_hot(self) -> None:
        pass

    def close(self) -> None:
        pass


def create_timer(loop: asyncio.AbstractEventLoop, *, hot_window: float = 0.0) -> Timer:
    """The most precise timer this platform offers for `loop`; `hot_window`: see `TimerfdTimer`."""
    if sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
            libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.timerfd_settime.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.POINTER(_Itimerspec),
                ctypes.c_void_p,
            ]
            return TimerfdTimer(loop, libc, hot_window)
        except (OSError, AttributeError):
            pass
    return LoopTimer(loop)


async def sleep_until(timer: Timer, deadline: float) -> None:
    """Sleep until `deadline` (a `time.monotonic()` value) using `timer`."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    handle = timer.call_at(deadline, wake)
    try:
        await fut
    finally:
        handle.cancel()
