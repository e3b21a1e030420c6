"""The gateway's keep-alive connection pools to its backends: one shared pool, or one per backend.

A pool admits `limit` calls at a time, first come first served; a call beyond that waits for one to
finish. That is httpx's default pool (`Limits(max_connections=100)`): the cap counts every connection,
idle ones included, and a full pool closes idle connections to serve whoever waits, so a backend
that holds its connections ends up with all of them. aiohttp's own `TCPConnector(limit=100)` is
looser: it counts only connections in use and lets every host keep reusing its idle ones past the
cap, so it starves the others only of new connections (measured in objectstore-slow: with storage
holding all 100 for 7 s, 2 chat requests and no auth request waited). The gate in front of the
connector gives the aiohttp client httpx's behaviour; the connector's own limit is the same number.

- GATEWAY_BULKHEADS off: ONE pool of `SHARED_LIMIT` for every backend.
- On: one pool per backend (a bulkhead), each of `BULKHEAD_LIMIT`: a slow backend queues only its own
  calls.

`gateway_pool_waiting{backend}` gauges the calls waiting for a pooled connection, by the backend
they go to, and `gateway_pool_queued_total{backend}` counts them: an auth call waiting while storage
is slow is the cascade.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from target_system.common.metrics import ServiceMetrics

# The default cap of the Python HTTP clients a gateway is written with (httpx's max_connections, and
# aiohttp's TCPConnector limit): the cap a gateway gets when nobody chooses one.
SHARED_LIMIT = 100
# Per backend with bulkheads. Little's law with the proxy timeout (3 s) bounding how long a call holds
# a connection: 100 carry 33 calls/s even if every one runs out the timeout, and far more at the
# milliseconds the services normally answer in (a backend's share of the calibrated load is tens of
# calls per second). The same number as the shared default: the bulkhead changes who may take a
# connection, not how many one backend gets.
BULKHEAD_LIMIT = 100


@dataclass(slots=True)
class Pool:
    """One pooled client and its admission gate."""

    session: aiohttp.ClientSession
    gate: asyncio.Semaphore


class ConnectionPools:
    """The pooled HTTP client of each backend (the same pool for all of them without bulkheads)."""

    def __init__(self, backends: Iterable[str], metrics: ServiceMetrics, *, bulkheads: bool) -> None:
        self.backends = tuple(backends)
        self.bulkheads = bulkheads
        self.limit = BULKHEAD_LIMIT if bulkheads else SHARED_LIMIT
        self._waiting = metrics.gauge(
            "gateway_pool_waiting", "Backend calls waiting for a pooled connection", ("service", "backend")
        )
        self._queued = metrics.counter(
            "gateway_pool_queued_total",
            "Backend calls that had to wait for a pooled connection",
            ("service", "backend"),
        )
        self._service = metrics.service
        self._pools: dict[str, Pool] = {}

    async def start(self) -> None:
        """Open the pools (in the app's lifespan, so they live on the server's loop)."""
        if self.bulkheads:
            self._pools = {name: self._open() for name in self.backends}
        else:
            self._pools = dict.fromkeys(self.backends, self._open())

    async def close(self) -> None:
        for session in {id(p.session): p.session for p in self._pools.values()}.values():
            await session.close()
        self._pools = {}

    @asynccontextmanager
    async def session(self, backend: str) -> AsyncIterator[aiohttp.ClientSession]:
        """The client to call `backend` with, once its pool admits the call (held for the block)."""
        if not self._pools:
            raise RuntimeError("ConnectionPools.start() was not awaited (the app's lifespan did not run)")
        pool = self._pools[backend]
        if pool.gate.locked():
            self._queued.labels(self._service, backend).inc()
        waiting = self._waiting.labels(self._service, backend)
        waiting.inc()
        try:
            await pool.gate.acquire()
        finally:
            waiting.dec()
        try:
            yield pool.session
        finally:
            pool.gate.release()

    def _open(self) -> Pool:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limit, keepalive_timeout=30.0, use_dns_cache=True),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,  # bodies pass through as sent, content-encoding and all
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        return Pool(session, asyncio.Semaphore(self.limit))
