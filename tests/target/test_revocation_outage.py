"""Revocation through a Redis outage, on the hardened stack (REDIS_FALLBACK on) through the real proxy.

Before the fix, every service but auth fell back to "the signature verifies: accept" while Redis was
down, so a token revoked minutes before the outage worked again during it; and a logout made during
the outage lived in auth's memory only, so a restart of auth brought the token back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from chaosgate.stack.launcher import LocalStack

PASSWORD = "correct horse battery"
DEGRADED = "x-secureconnect-degraded"
# One authenticated read per service that follows the revocation log (push's devices live in Redis:
# with Redis down it answers 503 to a token it accepts, and 401 to one it refuses).
READS = {
    "chat": "/v1/chat/conversations",
    "video": "/v1/video/calls",
    "storage": "/v1/storage/files",
    "push": "/v1/push/devices",
}
FEED = 'revocation_feed_entries_total{service="%s"}'


def set_redis(proxy_api: str, enabled: bool) -> None:
    httpx.post(f"{proxy_api}/proxies/redis", json={"enabled": enabled}, timeout=5.0).raise_for_status()


def reset(proxy_api: str) -> None:
    httpx.post(f"{proxy_api}/reset", timeout=5.0).raise_for_status()


def metric(base_url: str, sample: str) -> float:
    for line in httpx.get(f"{base_url}/metrics", timeout=5.0).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_up(gateway: httpx.Client) -> tuple[str, dict[str, Any]]:
    email = f"revoked-{uuid.uuid4().hex[:12]}@example.test"
    answer = gateway.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "R"}
    )
    assert answer.status_code == 201, answer.text
    return email, log_in(gateway, email)


def log_in(gateway: httpx.Client, email: str) -> dict[str, Any]:
    answer = gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def test_a_token_revoked_before_a_redis_outage_stays_refused_by_every_service(
    running_stack: LocalStack, proxy_reset: str
) -> None:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as gateway:
        email, first = signed_up(gateway)
        rotated = gateway.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
        other_session = log_in(gateway, email)
        learnt = {name: metric(running_stack.url_of(name), FEED % name) for name in READS}
        # The logout revokes the rotated token and its session: the first access token (same session,
        # never presented anywhere) goes with it.
        assert gateway.post("/v1/auth/logout", headers=bearer(rotated["access_token"])).status_code == 204
        for name in READS:
            url = running_stack.url_of(name)
            eventually(
                lambda url=url, name=name: metric(url, FEED % name) >= learnt[name] + 2, f"{name} learns"
            )

        set_redis(proxy_reset, False)
        try:
            for name, path in READS.items():
                for token in (rotated["access_token"], first["access_token"]):
                    answer = gateway.get(path, headers=bearer(token))
                    assert answer.status_code == 401, (name, answer.status_code, answer.text)
                    assert answer.json()["error"]["code"] in ("token_revoked", "session_ended")
                # A token nobody revoked still gets the fallback: accepted, degraded.
                kept = gateway.get(path, headers=bearer(other_session["access_token"]))
                assert kept.status_code != 401, (name, kept.text)
                if name != "push":
                    assert kept.status_code == 200 and kept.headers[DEGRADED] == "redis_unavailable", name
        finally:
            reset(proxy_reset)


def test_a_logout_during_a_redis_outage_survives_a_restart_of_auth(
    running_stack: LocalStack, proxy_reset: str
) -> None:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as gateway:
        _, tokens = signed_up(gateway)
        access, refresh = bearer(tokens["access_token"]), {"refresh_token": tokens["refresh_token"]}
        set_redis(proxy_reset, False)
        try:
            logout = gateway.post("/v1/auth/logout", headers=access)
            assert logout.status_code == 204 and logout.headers[DEGRADED] == "redis_unavailable"
            running_stack.restart_service("auth")  # its memory is gone; the SQL journal is not
            me = gateway.get("/v1/auth/me", headers=access)
            assert me.status_code == 401, me.text
            assert gateway.post("/v1/auth/refresh", json=refresh).status_code == 401
        finally:
            reset(proxy_reset)

        # Redis is back: the restarted auth writes the logout back, and every service refuses the token.
        for path in ("/v1/auth/me", *READS.values()):
            eventually(
                lambda path=path: gateway.get(path, headers=access).status_code == 401,
                f"{path} refuses the token logged out during the outage",
            )
        assert gateway.post("/v1/auth/refresh", json=refresh).status_code == 401
