"""A loopback HTTP server whose latency and throughput the load tests control, in a thread of its own."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class ServerStats:
    in_flight: int = 0
    peak_in_flight: int = 0
    served: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


def _app(stats: ServerStats, serial_work_s: float) -> web.Application:
    one_at_a_time = asyncio.Semaphore(1)

    async def count(request: web.Request, answer: web.StreamResponse) -> web.StreamResponse:
        stats.served += 1
        stats.by_path[request.path] = stats.by_path.get(request.path, 0) + 1
        return answer

    async def fast(request: web.Request) -> web.StreamResponse:
        return await count(request, web.Response(text="ok"))

    async def slow(request: web.Request) -> web.StreamResponse:
        """Answers after ?ms= milliseconds: a backend that turned slow."""
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
        finally:
            stats.in_flight -= 1
        return await count(request, web.Response(text="slow"))

    async def serial(request: web.Request) -> web.StreamResponse:
        """One request at a time, `serial_work_s` each: capacity 1 / serial_work_s per second."""
        async with one_at_a_time:
            await asyncio.sleep(serial_work_s)
        return await count(request, web.Response(text="done"))

    app = web.Application()
    app.add_routes([web.get("/fast", fast), web.get("/slow", slow), web.get("/serial", serial)])
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(serial_work_s: float = 0.02) -> Iterator[tuple[str, ServerStats]]:
    """(base URL, live stats) of a server on 127.0.0.1 for the block's duration."""
    stats = ServerStats()
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(_app(stats, serial_work_s), access_log=None)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="load-test-server", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the test server did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{port}", stats
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
