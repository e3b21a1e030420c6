"""A slow backend and the gateway's connection pools: without bulkheads, other backends wait behind it.

Storage's link turns slow and more calls to storage are held open than the shared pool has connections
(100); a login that touches no store then waits for one of storage's connections to come free. With
GATEWAY_BULKHEADS on, storage fills only its own pool and the login is answered at once. Both run on
the baseline profile (no proxy timeout, no breaker), so the bulkhead is the only difference.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

import httpx

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]

SHARED_POOL = 100  # the gateway's shared pool (target_system/gateway/pools.py SHARED_LIMIT)
HELD = SHARED_POOL + 10  # slow storage calls held open at once: more than the shared pool
LATENCY_MS = 3000


def sample(gateway: httpx.Client, name: str, backend: str) -> float:
    line = f'{name}{{backend="{backend}",service="gateway"}} '
    for text in gateway.get("/metrics").text.splitlines():
        if text.startswith(line):
            return float(text.rsplit(" ", 1)[1])
    return 0.0


def timed_login(gateway: httpx.Client) -> tuple[int, float]:
    """A malformed login: auth answers 400 at once, touching no store; the time is the gateway's."""
    started = time.perf_counter()
    answer = gateway.post("/v1/auth/login", content=b"{", headers={"content-type": "application/json"})
    return answer.status_code, time.perf_counter() - started


@contextmanager
def storage_held_slow(stack: LocalStack, proxy_api: str) -> Iterator[list[Future[httpx.Response]]]:
    """HELD calls to storage in flight through the gateway, each answered LATENCY_MS late."""
    toxic = {"name": "storage-latency", "type": "latency", "attributes": {"latency": LATENCY_MS}}
    httpx.post(f"{proxy_api}/proxies/storage/toxics", json=toxic).raise_for_status()
    client = httpx.Client(
        base_url=stack.gateway_url, timeout=30.0, limits=httpx.Limits(max_connections=HELD + 10)
    )
    pool = ThreadPoolExecutor(HELD)
    try:
        path = f"/v1/storage/files/{uuid.uuid4()}"  # 401 without a token: storage answers, late
        yield [pool.submit(client.get, path) for _ in range(HELD)]
    finally:
        httpx.post(f"{proxy_api}/reset", timeout=5.0).raise_for_status()
        pool.shutdown(wait=True)
        client.close()


def wait_for_storage_in_flight(gateway: httpx.Client, count: int) -> None:
    deadline = time.monotonic() + 5.0
    while sample(gateway, "gateway_backend_in_flight", "storage") < count:
        assert time.monotonic() < deadline, "the held storage calls never reached the gateway"
        time.sleep(0.05)


def test_a_slow_backend_takes_the_shared_pool_and_logins_wait_behind_it(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("baseline") as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=30.0) as gateway,
    ):
        assert timed_login(gateway)[0] == 400
        with storage_held_slow(stack, proxy_reset) as held:
            wait_for_storage_in_flight(gateway, HELD)
            status, took = timed_login(gateway)
            # Served in the end, but only once a slow storage call gave its connection back.
            assert status == 400
            assert took > 1.0, f"the login did not wait for the shared pool ({took:.2f}s)"
            assert sample(gateway, "gateway_pool_queued_total", "auth") >= 1
        assert all(f.result().status_code == 401 for f in held)


def test_with_bulkheads_a_slow_backend_fills_only_its_own_pool(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("baseline", gateway_bulkheads=True) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=30.0) as gateway,
    ):
        with storage_held_slow(stack, proxy_reset) as held:
            wait_for_storage_in_flight(gateway, HELD)
            status, took = timed_login(gateway)
            assert status == 400
            assert took < 0.5, f"the login waited behind storage ({took:.2f}s)"
            assert sample(gateway, "gateway_pool_waiting", "storage") >= HELD - SHARED_POOL - 1
            assert sample(gateway, "gateway_pool_queued_total", "auth") == 0
        assert all(f.result().status_code == 401 for f in held)
