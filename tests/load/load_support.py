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
    tokens: list[str] = field(default_factory=list)  # issued by POST /sessions
    items: dict[str, str] = field(default_factory=dict)  # item id -> the token that created it
    refused: int = 0  # item requests without a valid token
    read: list[str] = field(default_factory=list)  # item ids asked for by GET /items/{id}


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

    # A small API with sessions: what declared load (setup, headers, captures) acts on.
    async def session(request: web.Request) -> web.StreamResponse:
        stats.tokens.append(f"t{len(stats.tokens)}-{(await request.json())['user']}")
        return await count(request, web.json_response({"token": stats.tokens[-1]}, status=201))

    def authorised(request: web.Request) -> str | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in stats.tokens:
            stats.refused += 1
            return None
        return token

    async def create(request: web.Request) -> web.StreamResponse:
        token = authorised(request)
        if token is None:
            return web.json_response({"error": "no session"}, status=401)
        item = f"item-{len(stats.items)}"
        stats.items[item] = token
        return await count(request, web.json_response({"item": {"id": item}}, status=201))

    async def one(request: web.Request) -> web.StreamResponse:
        if authorised(request) is None:
            return web.json_response({"error": "no session"}, status=401)
        stats.read.append(request.match_info["id"])
        found = request.match_info["id"] in stats.items
        return await count(request, web.json_response({}, status=200 if found else 404))

    app = web.Application()
    app.add_routes([web.get("/fast", fast), web.get("/slow", slow), web.get("/serial", serial)])
    app.add_routes([web.post("/sessions", session), web.post("/items", create), web.get("/items/{id}", one)])
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
