"""The toxics: one class per Toxiproxy toxic type, each acting on one direction of one connection.

A toxic is configured once (`ToxicSpec`, what the API shows) and instantiated per connection and
direction (`Toxic`), where it keeps its own state (a byte count, a pacing clock, a timer). The
data plane (`link.Direction`) asks each attached toxic a few small questions per chunk: drop it?
when may it go? how many bytes at most? and tells it what was written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Protocol

from chaosgate.proxy.timer import Timer, TimerHandle
from chaosgate.toxics import ToxicState, ToxicType

# A toxic as configured on a proxy and shown by the API (chaosgate/toxics.py: the one toxic model); its
# `attributes` are the validated ones, every attribute of its type present.
ToxicSpec = ToxicState


class LinkControl(Protocol):
    """What a toxic may do to the connection direction it is attached to."""

    timer: Timer

    def close_connection(self) -> None: ...

    def reset_connection(self) -> None: ...


class Toxic:
    """One toxic attached to one direction of one connection. The defaults change nothing."""

    kind: ClassVar[ToxicType]

    def __init__(self, spec: ToxicSpec, link: LinkControl) -> None:
        self.spec = spec
        self.link = link
        self.attached_at = time.monotonic()
        # Rolled against the toxicity each time the toxic is attached or updated.
        self.active = False

    def attr(self, name: str) -> int:
        """An attribute of this toxic's type (the API filled in every one)."""
        return int(self.spec.attributes[name])

    def start(self) -> None:
        """Called once attached (and after each reconfiguration): start any timer."""

    def stop(self) -> None:
        """Called when detached (and before each reconfiguration): cancel any timer."""

    def drops_data(self) -> bool:
        return False

    def ready_at(self, arrival: float, noise: float) -> float:
        """The earliest time a chunk read at `arrival` may be written; `noise` is in [-1, 1]."""
        return arrival

    def next_send_at(self) -> float:
        """The earliest time the next piece may be written (pacing)."""
        return 0.0

    def max_piece(self, remaining: int) -> int:
        """The largest piece of the current chunk to write next."""
        return remaining

    def on_written(self, size: int, now: float) -> None:
        """`size` bytes were just written at `now`."""

    def exhausted(self) -> bool:
        """True when the connection must be closed before writing anything more."""
        return False

    def close_delay(self) -> float:
        """Seconds to hold the end of the stream before passing it on."""
        return 0.0


class LatencyToxic(Toxic):
    """Delays each chunk by latency ± jitter ms from the moment it was read (so a stream pipelines)."""

    kind = ToxicType.LATENCY

    def ready_at(self, arrival: float, noise: float) -> float:
        return arrival + (self.attr("latency") + noise * self.attr("jitter")) / 1000.0


class BandwidthToxic(Toxic):
    """Paces the direction at `rate` KB/s (1 KB = 1000 bytes); rate 0 means no limit."""

    kind = ToxicType.BANDWIDTH
    # Pieces carry at most this much time's worth of bytes, so the rate is smooth, not bursty.
    PIECE_SECONDS = 0.02

    def __init__(self, spec: ToxicSpec, link: LinkControl) -> None:
        super().__init__(spec, link)
        self._clock = 0.0

    def _bytes_per_second(self) -> int:
        return self.attr("rate") * 1000

    def next_send_at(self) -> float:
        return self._clock if self._bytes_per_second() else 0.0

    def max_piece(self, remaining: int) -> int:
        rate = self._bytes_per_second()
        return min(remaining, max(1, int(rate * self.PIECE_SECONDS))) if rate else remaining

    def on_written(self, size: int, now: float) -> None:
        rate = self._bytes_per_second()
        if rate:
            self._clock = max(self._clock, now) + size / rate


class SlowCloseToxic(Toxic):
    """Holds the end of the stream for `delay` ms before passing the close on."""

    kind = ToxicType.SLOW_CLOSE

    def close_delay(self) -> float:
        return self.attr("delay") / 1000.0


class TimeoutToxic(Toxic):
    """Lets no data through (it is dropped) and closes the connection after `timeout` ms (0: never)."""

    kind = ToxicType.TIMEOUT

    def __init__(self, spec: ToxicSpec, link: LinkControl) -> None:
        super().__init__(spec, link)
        self._handle: TimerHandle | None = None

    def _timeout(self) -> float:
        return self.attr("timeout") / 1000.0

    def start(self) -> None:
        if self._timeout() > 0:
            # Counted from when the toxic met the connection, so an update does not restart it.
            self._handle = self.link.timer.call_at(self.attached_at + self._timeout(), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.link.close_connection()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def drops_data(self) -> bool:
        return True


class ResetPeerToxic(TimeoutToxic):
    """After `timeout` ms, resets the connection (TCP RST), so the peer sees ECONNRESET."""

    kind = ToxicType.RESET_PEER

    def start(self) -> None:
        self._handle = self.link.timer.call_at(self.attached_at + self._timeout(), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.link.reset_connection()

    def drops_data(self) -> bool:
        return False


class SlicerToxic(Toxic):
    """Cuts data into slices of average_size ± size_variation bytes, `delay` µs apart."""

    kind = ToxicType.SLICER

    def __init__(self, spec: ToxicSpec, link: LinkControl) -> None:
        super().__init__(spec, link)
        self._next = 0.0
        # Seeded per toxic instance: no shared global random state between connections.
        self._random = random.Random()

    def next_send_at(self) -> float:
        return self._next

    def max_piece(self, remaining: int) -> int:
        average = self.attr("average_size")
        if average <= 0:
            return remaining
        variation = min(self.attr("size_variation"), average - 1)
        size = average + self._random.randint(-variation, variation)
        return max(1, min(remaining, size))

    def on_written(self, size: int, now: float) -> None:
        self._next = now + self.attr("delay") / 1_000_000.0


class LimitDataToxic(Toxic):
    """Passes exactly `bytes` bytes in its direction, then closes the connection."""

    kind = ToxicType.LIMIT_DATA

    def __init__(self, spec: ToxicSpec, link: LinkControl) -> None:
        super().__init__(spec, link)
        self._sent = 0

    def _limit(self) -> int:
        return self.attr("bytes")

    def max_piece(self, remaining: int) -> int:
        return min(remaining, self._limit() - self._sent)

    def on_written(self, size: int, now: float) -> None:
        self._sent += size

    def exhausted(self) -> bool:
        return self._sent >= self._limit()


TOXIC_TYPES: Mapping[str, type[Toxic]] = MappingProxyType(
    {
        cls.kind.value: cls
        for cls in (
            LatencyToxic,
            BandwidthToxic,
            SlowCloseToxic,
            TimeoutToxic,
            ResetPeerToxic,
            SlicerToxic,
            LimitDataToxic,
        )
    }
)
