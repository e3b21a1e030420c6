"""One named proxy: its listener, its open connections and its toxics."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from chaosgate.proxy.connection import ProxyConnection
from chaosgate.proxy.counters import Traffic
from chaosgate.proxy.models import Address, ApiError
from chaosgate.proxy.timer import Timer
from chaosgate.proxy.toxics import ToxicSpec
from chaosgate.toxics import Stream


class Proxy:
    """Listens on `listen`, forwards each connection to `upstream`, and applies its toxics."""

    def __init__(self, *, name: str, listen: Address, upstream: Address, timer: Timer) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, ToxicSpec] = {}
        self._timer = timer
        self._server: asyncio.Server | None = None
        self._connections: set[ProxyConnection] = set()
        self.traffic = Traffic()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": str(self.listen),
            "upstream": str(self.upstream),
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics.values()],
        }

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        """Listen (port 0 picks a free port, which `listen` then shows); a bind failure is a 500."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                self._accept, self.listen.host, self.listen.port, reuse_address=True, backlog=1024
            )
        except OSError as exc:
            raise ApiError(500, f"listen tcp {self.listen}: {exc.strerror or exc}") from exc
        sock: socket.socket = server.sockets[0]
        self.listen = Address(self.listen.host, sock.getsockname()[1])
        self._server = server
        self.enabled = True

    def _accept(self) -> asyncio.Protocol:
        self.traffic.connections += 1
        connection = ProxyConnection(
            upstream=self.upstream,
            toxics=self.toxics_for,
            timer=self._timer,
            on_closed=self._connections.discard,
            traffic=self.traffic,
        )
        self._connections.add(connection)
        return connection.client

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close(abort=True)  # dropped, not drained: a stalled peer must not block this
        if server is not None:
            # Bounded: the listener is already closed; this only waits for its bookkeeping.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    def toxics_for(self, stream: Stream) -> list[ToxicSpec]:
        return [toxic for toxic in self.toxics.values() if toxic.stream is stream]

    def toxics_changed(self) -> None:
        """Apply the current toxics to every open connection, not only to new ones."""
        for connection in list(self._connections):
            for stream in Stream:
                connection.set_toxics(stream, self.toxics_for(stream))
