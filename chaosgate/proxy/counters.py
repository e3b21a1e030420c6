"""What each proxy counts as traffic passes: connections accepted, and bytes per stream each way.

The counters are plain ints on `__slots__` objects, bumped on the event loop that moves the bytes:
the loop is the only writer, so no lock is needed, and an add costs one attribute store per chunk
(a dict keyed by `Stream` would cost an enum hash on every chunk). The API reads them on the same
loop, so a read never sees a torn value.

Unlike Toxiproxy 2.x, which adds a connection's bytes to its counters once that direction ends (its
`io.Copy` returns), these grow while the bytes pass, so a long-lived pooled connection shows in a
rate taken during the fault and not only when it closes.
"""

from __future__ import annotations

from chaosgate.toxics import Stream


class StreamBytes:
    """Bytes of one stream (upstream: client to server; downstream: server to client)."""

    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received = 0  # read from the stream's source
        self.sent = 0  # written to its destination (less than received while queued or dropped)


class Traffic:
    """One proxy's counters over all its connections, from its creation (never reset)."""

    __slots__ = ("connections", "downstream", "upstream")

    def __init__(self) -> None:
        self.connections = 0  # accepted from clients, whether or not the upstream answered
        self.upstream = StreamBytes()
        self.downstream = StreamBytes()

    def of(self, stream: Stream) -> StreamBytes:
        return self.upstream if stream is Stream.UPSTREAM else self.downstream
