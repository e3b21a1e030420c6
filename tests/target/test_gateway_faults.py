"""The gateway under real faults through the proxy: timeouts and breaker, rate limiting that fails open.

Each test switches the stack to a profile with short tunables, breaks one link, observes, and always
resets the proxy in `finally`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]

FAST = {"SC_PROXY_TIMEOUT": "0.5", "SC_BREAKER_FAIL_MAX": "3", "SC_BREAKER_RESET": "1.5", "SC_WS_CAP": "1"}
LATENCY_MS = 1500


def add_latency(proxy_api: str, link: str, ms: int) -> None:
    toxic = {"name": f"{link}-latency", "type": "latency", "stream": "downstream", "toxicity": 1.0}
    answer = httpx.post(f"{proxy_api}/proxies/{link}/toxics", json={**toxic, "attributes": {"latency": ms}})
    answer.raise_for_status()


def set_enabled(proxy_api: str, link: str, enabled: bool) -> None:
    httpx.post(f"{proxy_api}/proxies/{link}", json={"enabled": enabled}).raise_for_status()


def reset(proxy_api: str) -> None:
    httpx.post(f"{proxy_api}/reset", timeout=5.0).raise_for_status()


def probe_auth(client: httpx.Client, **kwargs: Any) -> tuple[httpx.Response, float]:
    """A request auth answers at once with 400 (malformed JSON), touching no store: a pure link probe."""
    started = time.perf_counter()
    answer = client.post(
        "/v1/auth/login", content=b"{", headers={"content-type": "application/json", **kwargs}, timeout=10.0
    )
    return answer, time.perf_counter() - started


def chat_socket_url(stack: LocalStack, client: httpx.Client) -> str:
    email = f"ws-{uuid.uuid4().hex[:12]}@example.test"
    password = "correct horse battery"
    client.post("/v1/auth/register", json={"email": email, "password": password, "display_name": "Ws"})
    token = client.post("/v1/auth/login", json={"email": email, "password": password}).json()["access_token"]
    return stack.gateway_url.replace("http://", "ws://") + f"/v1/chat/ws?token={token}"


def metric(client: httpx.Client, sample: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_hardened_gateway_times_out_then_the_breaker_opens_half_opens_and_closes(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with stack_profile("hardened", env=FAST) as stack, httpx.Client(base_url=stack.gateway_url) as gateway:
        assert probe_auth(gateway)[0].status_code == 400
        add_latency(proxy_reset, "auth", LATENCY_MS)
        try:
            for _ in range(3):
                answer, took = probe_auth(gateway)
                assert answer.status_code == 504, answer.text
                assert answer.json()["error"]["code"] == "backend_timeout"
                assert took < 1.2  # the proxy timeout (0.5 s), not the backend's 1.5 s
            answer, took = probe_auth(gateway)
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "circuit_open"
            assert took < 0.2  # refused without calling auth
            assert metric(gateway, 'circuit_breaker_state{backend="auth",service="gateway"}') == 1
            assert metric(gateway, 'gateway_backend_timeouts_total{backend="auth",service="gateway"}') == 3
            # Isolation: chat, behind its own breaker, still answers at once.
            started = time.perf_counter()
            assert gateway.get("/v1/chat/conversations").status_code == 401
            assert time.perf_counter() - started < 0.5

            time.sleep(1.6)  # reset timeout: the next call is a half-open trial, which still fails
            answer, _ = probe_auth(gateway)
            assert answer.status_code == 504
            assert probe_auth(gateway)[0].json()["error"]["code"] == "circuit_open"
        finally:
            reset(proxy_reset)

        time.sleep(1.6)
        answer, took = probe_auth(gateway)  # the trial succeeds: closed again
        assert answer.status_code == 400 and took < 0.5
        assert metric(gateway, 'circuit_breaker_state{backend="auth",service="gateway"}') == 0
        closed = 'circuit_breaker_transitions_total{backend="auth",service="gateway",to="closed"}'
        assert metric(gateway, closed) == 1
        assert probe_auth(gateway)[0].status_code == 400


def test_baseline_gateway_waits_for_a_slow_backend_and_a_slow_redis(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with stack_profile("baseline", env=FAST) as stack, httpx.Client(base_url=stack.gateway_url) as gateway:
        add_latency(proxy_reset, "auth", LATENCY_MS)
        try:
            # No timeout, no breaker: every caller waits out the whole latency, and nobody is refused.
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda _: probe_auth(gateway), range(4)))
            for answer, took in results:
                assert answer.status_code == 400
                assert took >= LATENCY_MS / 1000
            answer, took = probe_auth(gateway)
            assert answer.status_code == 400 and took >= LATENCY_MS / 1000
        finally:
            reset(proxy_reset)

        add_latency(proxy_reset, "redis", 700)
        try:
            # The rate-limit check waits for Redis, as the reports found it.
            _, took = probe_auth(gateway, authorization=f"Bearer rl.{uuid.uuid4().hex}")
            assert took >= 0.7
        finally:
            reset(proxy_reset)
        ready = gateway.get("/health/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ok"}

        # No WS_CAP: the same cap setting refuses nobody.
        url = chat_socket_url(stack, gateway)
        with connect(url, open_timeout=5) as first, connect(url, open_timeout=5) as second:
            for socket in (first, second):
                assert json.loads(socket.recv(timeout=5))["type"] == "ready"


def test_a_backends_own_clean_503s_do_not_open_its_breaker(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    """Auth refusing logins cleanly while SQL is cut off is alive: its breaker stays closed, so a
    refresh (Redis only) still reaches it instead of a gateway `circuit_open`."""
    with stack_profile("hardened", env=FAST) as stack, httpx.Client(base_url=stack.gateway_url) as gateway:
        set_enabled(proxy_reset, "cockroach", False)
        try:
            login = {"email": "nobody@example.test", "password": "correct horse battery"}
            codes = [gateway.post("/v1/auth/login", json=login, timeout=10.0).status_code for _ in range(6)]
            assert codes.count(503) >= 4, codes  # more than FAST's fail_max of 3
            assert metric(gateway, 'circuit_breaker_state{backend="auth",service="gateway"}') == 0
            answer = gateway.post("/v1/auth/refresh", json={"refresh_token": "no.such"}, timeout=10.0)
            assert answer.status_code == 401, answer.text  # auth itself answered
        finally:
            reset(proxy_reset)


def test_an_unreachable_backend_is_a_plain_502_without_the_breaker_and_a_clean_503_with_it(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    # The reports' gateway (Go's ReverseProxy, no breaker) answered 502 for a backend it could not
    # reach; the breaker fix refuses cleanly. The scorer tells them apart (error vs rejected).
    for profile, status, code in (("baseline", 502, "bad_gateway"), ("hardened", 503, "backend_unavailable")):
        with stack_profile(profile, env=FAST) as stack, httpx.Client(base_url=stack.gateway_url) as gateway:
            set_enabled(proxy_reset, "auth", False)
            try:
                answer, took = probe_auth(gateway)
                assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
                assert took < 1.0
            finally:
                reset(proxy_reset)


def user_token(client: httpx.Client) -> str:
    email = f"rl-{uuid.uuid4().hex[:12]}@example.test"
    password = "correct horse battery"
    client.post("/v1/auth/register", json={"email": email, "password": password, "display_name": "Rl"})
    token: str = client.post("/v1/auth/login", json={"email": email, "password": password}).json()[
        "access_token"
    ]
    return token


def client_of_its_own(stack: LocalStack) -> httpx.Client:
    """A client from an address of its own in 127.0.0.0/8: a rate-limit bucket no other test filled."""
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    return httpx.Client(base_url=stack.gateway_url, transport=httpx.HTTPTransport(local_address=address))


def test_rate_limit_applies_per_verified_user_and_fails_open_without_redis(
    stack_profile: ProfileSwitcher, proxy_reset: str
) -> None:
    with (
        stack_profile("hardened", env={"SC_RATE_LIMIT": "5", "SC_WS_CAP": "1"}) as stack,
        client_of_its_own(stack) as gateway,
    ):
        alice, bob = user_token(gateway), user_token(gateway)  # 4 requests, counted against the address
        codes = [probe_auth(gateway, authorization=f"Bearer {alice}")[0].status_code for _ in range(6)]
        assert codes == [400] * 5 + [429]
        limited = probe_auth(gateway, authorization=f"Bearer {alice}")[0]
        assert limited.json()["error"]["code"] == "rate_limited" and "retry-after" in limited.headers
        assert probe_auth(gateway, authorization=f"Bearer {bob}")[0].status_code == 400  # a bucket of bob's
        # A bearer that does not verify names nobody: it counts against the address (4 used above), so a
        # fresh random bearer per request no longer escapes the limit (it did, keyed on the header).
        forged = [probe_auth(gateway, authorization=f"Bearer rl.{uuid.uuid4().hex}")[0] for _ in range(2)]
        assert [a.status_code for a in forged] == [400, 429]

        add_latency(proxy_reset, "redis", 700)
        try:
            # STORE_TIMEOUTS bounds the check (50 ms): a slow Redis costs little and the request passes,
            # even from this address, which is over its limit.
            answer, took = probe_auth(gateway, authorization=f"Bearer rl.{uuid.uuid4().hex}")
            assert answer.status_code == 400 and took < 0.5
        finally:
            reset(proxy_reset)

        set_enabled(proxy_reset, "redis", False)
        try:
            answers = [probe_auth(gateway, authorization=f"Bearer {alice}")[0] for _ in range(5)]
            assert [a.status_code for a in answers] == [400] * 5  # the limited client passes: fail open
            assert metric(gateway, 'rate_limit_fail_open_total{service="gateway"}') >= 6
            ready = gateway.get("/health/ready")
            # Redis is a soft dependency of the gateway: readiness is degraded, not lost.
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"]["status"] == "down"
            assert ready.headers["x-secureconnect-degraded"] == "redis_unavailable"
        finally:
            reset(proxy_reset)

        # WS_CAP: one relayed socket per backend here; the next chat handshake gets a clean 503, while
        # video signaling keeps its own share (a bulkhead: a chat flood cannot starve it).
        url = stack.gateway_url.replace("http://", "ws://") + f"/v1/chat/ws?token={bob}"
        with connect(url, open_timeout=5) as first:
            assert json.loads(first.recv(timeout=5))["type"] == "ready"
            with pytest.raises(InvalidStatus) as refused:
                connect(url, open_timeout=5)
            assert refused.value.response.status_code == 503
            assert json.loads(bytes(refused.value.response.body or b"{}"))["error"]["code"] == "ws_capacity"
            with connect(url.replace("/v1/chat/ws", "/v1/video/ws"), open_timeout=5) as video:
                video.send('{"type": "ping"}')
                assert any('"pong"' in str(video.recv(timeout=5)) for _ in range(5))
