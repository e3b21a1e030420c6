"""The precise timer: deadline order, cancelling, sub-millisecond precision, and busy polling."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx
import pytest
import uvloop

from chaosgate.proxy.server import ServerOptions
from chaosgate.proxy.timer import TimerfdTimer, create_timer, sleep_until

from .kit import connect, listen_port, make_proxy, recv_exactly, start_server_thread

# Measures this machine's timing (CPU) itself: scripts/test runs it alone, after the parallel suite.
pytestmark = pytest.mark.alone


def test_callbacks_run_in_order_and_cancelled_ones_do_not() -> None:
    async def scenario() -> list[int]:
        timer = create_timer(asyncio.get_running_loop())
        fired: list[int] = []
        now = time.monotonic()
        for index, delay in enumerate([0.03, 0.01, 0.02, 0.015]):
            handle = timer.call_at(now + delay, lambda index=index: fired.append(index))
            if index == 3:
                handle.cancel()
        await asyncio.sleep(0.06)
        timer.close()
        return fired

    assert uvloop.run(scenario()) == [1, 2, 0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux only")
def test_timerfd_sleeps_are_sub_millisecond_precise() -> None:
    async def scenario() -> list[float]:
        timer = create_timer(asyncio.get_running_loop())
        assert isinstance(timer, TimerfdTimer)
        lateness = []
        for _ in range(60):
            deadline = time.monotonic() + 0.005
            await sleep_until(timer, deadline)
            lateness.append(time.monotonic() - deadline)
        timer.close()
        return lateness

    lateness = uvloop.run(scenario())
    assert min(lateness) >= 0.0  # never early
    assert statistics.median(lateness) < 0.0005  # asyncio's own timers round to ~1 ms


def test_a_busy_polling_server_proxies_and_keeps_latency_precise(echo_port: int) -> None:
    running = start_server_thread(ServerOptions(port=0, hot_window=0.0005))
    try:
        with httpx.Client(base_url=running.url, timeout=10) as api:
            proxy = make_proxy(api, "hot", echo_port)
            with connect(listen_port(proxy)) as sock:
                for _ in range(20):
                    sock.sendall(b"hot")
                    assert recv_exactly(sock, 3) == b"hot"
                api.post("/proxies/hot/toxics", json={"type": "latency", "attributes": {"latency": 30}})
                samples = []
                for _ in range(10):
                    start = time.monotonic()
                    sock.sendall(b"hot")
                    assert recv_exactly(sock, 3) == b"hot"
                    samples.append(time.monotonic() - start)
        assert min(samples) >= 0.030
        assert statistics.median(samples) <= 0.035
    finally:
        running.shutdown()
