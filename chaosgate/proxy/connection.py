"""One proxied TCP connection: the accepted client socket, the upstream socket, two directions."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable
from typing import cast

from chaosgate.proxy.counters import Traffic
from chaosgate.proxy.link import Direction
from chaosgate.proxy.models import Address
from chaosgate.proxy.timer import Timer
from chaosgate.proxy.toxics import ToxicSpec
from chaosgate.toxics import Stream

# Each side buffers at most this much unsent data before the other side stops being read.
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18
# An upstream that neither accepts nor refuses within this time is treated as dead.
CONNECT_TIMEOUT = 5.0


def _tune(transport: asyncio.Transport) -> None:
    """No Nagle delay on either socket (small requests must not wait), and roomy write buffers."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)


class _Side(asyncio.Protocol):
    """The protocol of one socket; it reads into one direction and is written by the other."""

    def __init__(self, connection: ProxyConnection, reads: Stream) -> None:
        self.connection = connection
        self.reads = reads
        self.writes = Stream.DOWNSTREAM if reads is Stream.UPSTREAM else Stream.UPSTREAM
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.pending_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        _tune(self.transport)
        self.connection.side_made(self)

    def data_received(self, data: bytes) -> None:
        self.connection.timer.keep_hot()
        direction = self.connection.directions.get(self.reads)
        if direction is None:
            self.pending.append(data)  # before the other side exists (reading is paused then)
        else:
            direction.feed(data)

    def eof_received(self) -> bool:
        direction = self.connection.directions.get(self.reads)
        if direction is None:
            # An upstream that closes right after accepting sends its EOF while `_connect` has not
            # yet resumed to build the directions; closing here passed that close to the client at
            # once, past slow_close (how often depended on loop timing). Hold it, like early data,
            # for the toxics.
            self.pending_eof = True
        else:
            direction.feed_eof()
        return True  # keep the socket open: the other direction may still be sending

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.close()

    def pause_writing(self) -> None:
        direction = self.connection.directions.get(self.writes)
        if direction is not None:
            direction.dst_pause()

    def resume_writing(self) -> None:
        direction = self.connection.directions.get(self.writes)
        if direction is not None:
            direction.dst_resume()


class ProxyConnection:
    """Connects an accepted client to the upstream, then carries bytes both ways through toxics."""

    def __init__(
        self,
        *,
        upstream: Address,
        toxics: Callable[[Stream], list[ToxicSpec]],
        timer: Timer,
        on_closed: Callable[[ProxyConnection], None],
        traffic: Traffic | None = None,
    ) -> None:
        self._upstream = upstream
        self._traffic = traffic or Traffic()
        self._toxics = toxics
        self.timer = timer
        self._on_closed = on_closed
        self._rng = random.Random()
        self.client = _Side(self, Stream.UPSTREAM)
        self.server: _Side | None = None
        self.directions: dict[Stream, Direction] = {}
        self._half_closed = 0
        self._closed = False
        self._connect_task: asyncio.Task[None] | None = None

    def side_made(self, side: _Side) -> None:
        if side is self.client and self._connect_task is None:
            assert side.transport is not None
            side.transport.pause_reading()  # nothing to forward to until the upstream answers
            self._connect_task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        server = _Side(self, Stream.DOWNSTREAM)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: server, self._upstream.host, self._upstream.port),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError):
            self.close()  # a dead upstream: the client sees its connection closed at once
            return
        finally:
            self._connect_task = None
        if self._closed:
            if server.transport is not None:
                server.transport.close()
            return
        self.server = server
        client_t, server_t = self.client.transport, server.transport
        assert client_t is not None and server_t is not None
        self.directions = {
            Stream.UPSTREAM: Direction(
                self, Stream.UPSTREAM, client_t, server_t, self.timer, self._rng, self._traffic
            ),
            Stream.DOWNSTREAM: Direction(
                self, Stream.DOWNSTREAM, server_t, client_t, self.timer, self._rng, self._traffic
            ),
        }
        for stream, direction in self.directions.items():
            direction.set_toxics(self._toxics(stream))
        for side in (self.client, server):
            direction = self.directions[side.reads]
            for data in side.pending:
                direction.feed(data)
            side.pending.clear()
            if side.pending_eof:
                direction.feed_eof()
        if not client_t.is_closing():
            client_t.resume_reading()

    def set_toxics(self, stream: Stream, specs: list[ToxicSpec]) -> None:
        direction = self.directions.get(stream)
        if direction is not None:
            direction.set_toxics(specs)

    def half_closed(self) -> None:
        self._half_closed += 1
        if self._half_closed >= 2:
            self.close()

    def close(self, *, abort: bool = False) -> None:
        """Close both sockets (flushing pending writes unless `abort`) and forget the connection."""
        if self._closed:
            return
        self._closed = True
        if self._connect_task is not None:
            self._connect_task.cancel()
        for direction in self.directions.values():
            direction.close()
        for side in (self.client, self.server):
            if side is not None and side.transport is not None:
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()
        self._on_closed(self)

    def reset(self, stream: Stream) -> None:
        """Reset the socket that `stream` writes to with a TCP RST, and close the other one."""
        target = self.client if stream is Stream.DOWNSTREAM else self.server
        if target is not None and target.transport is not None:
            sock = target.transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER on with a zero timeout makes close() send RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            target.transport.abort()
        self.close()
