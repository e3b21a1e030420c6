"""Auth under real faults through the proxy: Redis down or slow SQL, with the fixes on and off.

Every fault is undone in `finally` (proxy /reset), so a failing assertion cannot leave the stack broken.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]
PASSWORD = "correct horse battery"
DEGRADED = "x-secureconnect-degraded"
SMALL_POOL = {"SC_POOL_SIZE": "2", "SC_POOL_ACQUIRE_TIMEOUT": "0.3"}


def reset(proxy_api: str) -> None:
    httpx.post(f"{proxy_api}/reset", timeout=5.0).raise_for_status()


def disable(proxy_api: str, link: str) -> None:
    httpx.post(f"{proxy_api}/proxies/{link}", json={"enabled": False}).raise_for_status()


def add_latency(proxy_api: str, link: str, ms: int) -> None:
    toxic = {"name": f"{link}-latency", "type": "latency", "stream": "downstream", "toxicity": 1.0}
    answer = httpx.post(f"{proxy_api}/proxies/{link}/toxics", json={**toxic, "attributes": {"latency": ms}})
    answer.raise_for_status()


def new_user(gateway: httpx.Client) -> str:
    email = f"fault-{uuid.uuid4().hex[:12]}@example.test"
    answer = gateway.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "F"}
    )
    assert answer.status_code == 201, answer.text
    return email


def login(gateway: httpx.Client, email: str) -> httpx.Response:
    return gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def metric(base_url: str, sample: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_hardened_auth_serves_degraded_from_memory_while_redis_is_down(
    running_stack: LocalStack, proxy_reset: str
) -> None:
    auth_url = running_stack.url_of("auth")
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as gateway:
        email = new_user(gateway)
        before = login(gateway, email).json()
        disable(proxy_reset, "redis")
        try:
            answer = login(gateway, email)
            assert answer.status_code == 200, answer.text
            assert answer.headers[DEGRADED] == "redis_unavailable"
            during = answer.json()
            me = gateway.get("/v1/auth/me", headers=bearer(during))
            assert me.status_code == 200 and me.headers[DEGRADED] == "redis_unavailable"
            # A session from before the outage still refreshes (mirrored in memory).
            refreshed = gateway.post("/v1/auth/refresh", json={"refresh_token": before["refresh_token"]})
            assert refreshed.status_code == 200 and refreshed.headers[DEGRADED] == "redis_unavailable"
            # Logout still revokes: the in-memory blacklist refuses the token at once.
            assert gateway.post("/v1/auth/logout", headers=bearer(refreshed.json())).status_code == 204
            assert gateway.get("/v1/auth/me", headers=bearer(refreshed.json())).status_code == 401
            ready = httpx.get(f"{auth_url}/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert metric(auth_url, 'auth_fallback_total{op="session_put",service="auth"}') >= 1
            assert metric(auth_url, 'redis_retry_total{op="lockout_incr",service="auth"}') >= 1
        finally:
            reset(proxy_reset)

        # Once Redis is back, what was made during the outage is written back: chat-side checks see it.
        deadline = time.monotonic() + 5.0
        while True:
            me = gateway.get("/v1/auth/me", headers=bearer(during))
            if me.status_code == 200 and DEGRADED not in me.headers:
                break
            assert time.monotonic() < deadline, f"not recovered: {me.status_code} {me.headers.get(DEGRADED)}"
            time.sleep(0.2)
        # The revocation is written back to Redis within a sync period, and then chat refuses the token too.
        deadline = time.monotonic() + 5.0
        while True:
            revoked = gateway.get("/v1/chat/conversations", headers=bearer(refreshed.json()))
            if revoked.status_code == 401:
                break
            assert time.monotonic() < deadline, f"chat still accepts the revoked token: {revoked.status_code}"
            time.sleep(0.2)


def test_baseline_login_fails_without_redis_and_health_does_not_notice(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("baseline", env={"SC_POOL_SIZE": "2"}) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        auth_url = stack.url_of("auth")
        email = new_user(gateway)
        tokens = login(gateway, email).json()
        disable(proxy_reset, "redis")
        try:
            answer = login(gateway, email)
            assert answer.status_code == 500, answer.text  # "blocks login entirely", as an error
            assert DEGRADED not in answer.headers
            ready = httpx.get(f"{auth_url}/health/ready")
            assert ready.status_code == 200 and ready.json() == {"status": "ok"}  # "up", whatever happens
            assert metric(auth_url, 'redis_retry_total{op="lockout_incr",service="auth"}') == 0
        finally:
            reset(proxy_reset)

        add_latency(proxy_reset, "cockroach", 1000)
        try:
            # No query timeout, no acquire timeout: every caller waits the latency out and gets its answer.
            # Six callers, a pool of two: the last ones queue behind the pool (no 503) for rounds of latency.
            answers = timed_concurrently(
                lambda: httpx.get(f"{auth_url}/v1/auth/me", headers=bearer(tokens), timeout=30.0), 6
            )
            assert [a.status_code for a, _ in answers] == [200] * 6
            assert min(took for _, took in answers) >= 1.0
            assert max(took for _, took in answers) >= 2.5
        finally:
            reset(proxy_reset)


def test_request_timeout_bounds_what_store_timeouts_do_not(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("baseline", env={"SC_REQUEST_TIMEOUT": "1.0"}, REQUEST_TIMEOUT=True) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        auth_url = stack.url_of("auth")
        tokens = login(gateway, new_user(gateway)).json()
        add_latency(proxy_reset, "cockroach", 2000)
        try:
            started = time.perf_counter()
            me = httpx.get(f"{auth_url}/v1/auth/me", headers=bearer(tokens), timeout=10.0)
            assert me.status_code == 504 and me.json()["error"]["code"] == "request_timeout"
            assert time.perf_counter() - started < 1.8
        finally:
            reset(proxy_reset)


def timed_concurrently(call: Callable[[], httpx.Response], times: int) -> list[tuple[httpx.Response, float]]:
    def timed() -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        answer = call()
        return answer, time.perf_counter() - started

    with ThreadPoolExecutor(times) as pool:
        return [f.result() for f in [pool.submit(timed) for _ in range(times)]]


def test_without_fallback_auth_fails_closed_and_reports_not_ready(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("hardened", env=SMALL_POOL, REDIS_FALLBACK=False) as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        auth_url = stack.url_of("auth")
        email = new_user(gateway)
        tokens = login(gateway, email).json()
        disable(proxy_reset, "redis")
        try:
            answer = login(gateway, email)
            # Fail-closed as the reports found it: the Redis error reaches the handler, which answers 500.
            assert answer.status_code == 500, answer.text
            assert answer.json()["error"]["code"] == "internal_error"
            me = gateway.get("/v1/auth/me", headers=bearer(tokens))
            assert me.status_code == 500, me.text
            ready = httpx.get(f"{auth_url}/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"]["status"] == "down"
            assert ready.json()["checks"]["sql"]["status"] == "ok"
        finally:
            reset(proxy_reset)

        add_latency(proxy_reset, "cockroach", 1500)
        try:
            started = time.perf_counter()
            me = gateway.get("/v1/auth/me", headers=bearer(tokens))
            took = time.perf_counter() - started
            assert me.status_code == 503 and me.json()["error"]["code"] == "sql_unavailable"
            assert took < 1.45  # the store timeout (1 s), not the link's 1.5 s
            assert metric(auth_url, 'db_query_timeout_total{service="auth",store="cockroach"}') >= 1

            # Four callers, at most two pooled connections: nobody waits past the acquire or query timeout,
            # and at least two are refused by the pool (the others may time out on connect or query).
            answers = timed_concurrently(
                lambda: httpx.get(f"{auth_url}/v1/auth/me", headers=bearer(tokens), timeout=30.0), 4
            )
            codes = {a.json()["error"]["code"] for a, _ in answers}
            assert codes <= {"db_pool_exhausted", "sql_unavailable"}, codes
            assert all(a.status_code == 503 and took < 1.45 for a, took in answers)
            assert metric(auth_url, 'db_pool_acquire_timeout_total{service="auth",store="cockroach"}') >= 2
        finally:
            reset(proxy_reset)


def test_a_session_rotated_during_a_redis_outage_keeps_refreshing_after_it(
    running_stack: LocalStack, proxy_reset: str
) -> None:
    # Found by chaosgate's redis-down scenario: right after recovery, Redis still held the
    # pre-outage refresh hash, so the next refresh looked like a replay and ended the session.
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as gateway:
        tokens = login(gateway, new_user(gateway)).json()
        disable(proxy_reset, "redis")
        try:
            for _ in range(3):
                answer = gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                assert answer.status_code == 200, answer.text
                tokens = answer.json()
        finally:
            reset(proxy_reset)
        for _ in range(8):  # across the hold period and the write-back
            answer = gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert answer.status_code == 200, answer.text
            tokens = answer.json()
            time.sleep(0.3)


def test_logins_that_fail_because_the_user_store_is_down_do_not_lock_the_account(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("hardened") as stack,
        httpx.Client(base_url=stack.gateway_url, timeout=10.0) as gateway,
    ):
        email = new_user(gateway)
        disable(proxy_reset, "cockroach")
        try:
            # More attempts than the lockout allows (5), none of which reached the password check.
            answers = [login(gateway, email).status_code for _ in range(8)]
            assert all(code >= 500 for code in answers), answers
        finally:
            reset(proxy_reset)
        deadline = time.monotonic() + 15
        answer = login(gateway, email)
        while answer.status_code >= 500 and time.monotonic() < deadline:  # the pool reconnects
            time.sleep(0.3)
            answer = login(gateway, email)
        assert answer.status_code == 200, f"locked out by an outage of the user store: {answer.text}"
