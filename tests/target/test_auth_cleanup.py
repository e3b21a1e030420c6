"""Auth's expired-token cleanup on the local stack: the admin trigger, its guard, its counts, the job."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from test_push_support import metric, wait_for

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]
CLEANUP = "/v1/auth/admin/cleanup"


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def _sql(stack: LocalStack, *statements: tuple[str, tuple[object, ...]]) -> list[list[asyncpg.Record]]:
    """Run statements directly on the SQL store (not through the proxy), as an operator would."""

    async def run() -> list[list[asyncpg.Record]]:
        conn = await asyncpg.connect(stack.url_of("cockroach"), timeout=5)
        try:
            return [await conn.fetch(query, *args) for query, args in statements]
        finally:
            await conn.close()

    return asyncio.run(run())


def plant_tokens(stack: LocalStack, *, expired: int, live: int) -> tuple[list[str], list[str]]:
    """A user with `expired` + `live` tokens in each table; returns (expired tokens, live tokens)."""
    user_id = uuid.uuid4()
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    gone = [f"expired-{uuid.uuid4().hex}" for _ in range(expired)]
    kept = [f"live-{uuid.uuid4().hex}" for _ in range(live)]
    statements: list[tuple[str, tuple[object, ...]]] = [
        (
            "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, 'Old', 'x')",
            (user_id, f"cleanup-{user_id.hex}@example.test"),
        )
    ]
    for token, when in [*((t, past) for t in gone), *((t, future) for t in kept)]:
        statements.append(
            (
                "INSERT INTO email_verification_tokens (token, user_id, expires_at) VALUES ($1, $2, $3)",
                (token, user_id, when),
            )
        )
        statements.append(
            (
                "INSERT INTO password_reset_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                (token, user_id, when),
            )
        )
    _sql(stack, *statements)
    return gone, kept


def remaining(stack: LocalStack, tokens: list[str]) -> set[str]:
    verification, reset = _sql(
        stack,
        ("SELECT token AS t FROM email_verification_tokens WHERE token = ANY($1::text[])", (tokens,)),
        ("SELECT token_hash AS t FROM password_reset_tokens WHERE token_hash = ANY($1::text[])", (tokens,)),
    )
    return {f"v:{r['t']}" for r in verification} | {f"r:{r['t']}" for r in reset}


def test_admin_cleanup_refuses_without_the_admin_token(
    gateway: httpx.Client, running_stack: LocalStack
) -> None:
    gone, _ = plant_tokens(running_stack, expired=1, live=0)
    for headers in ({}, {"X-Admin-Token": "guess"}, {"X-Admin-Token": ""}):
        answer = gateway.post(CLEANUP, headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "admin_only"
    assert len(remaining(running_stack, gone)) == 2  # nothing ran


def test_admin_cleanup_deletes_expired_tokens_only_and_counts_them(
    gateway: httpx.Client, running_stack: LocalStack
) -> None:
    gateway.post(CLEANUP, headers={"X-Admin-Token": running_stack.secret("admin_token")})  # start from clean
    counted = metric(running_stack, "auth", "auth_cleanup_expired_tokens_total")
    runs = metric(running_stack, "auth", "auth_cleanup_duration_seconds_count")
    gone, kept = plant_tokens(running_stack, expired=3, live=2)

    answer = gateway.post(CLEANUP, headers={"X-Admin-Token": running_stack.secret("admin_token")})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["deleted"] == {"email_verification_tokens": 3, "password_reset_tokens": 3}
    assert report["total"] == 6
    assert remaining(running_stack, gone) == set()
    assert remaining(running_stack, kept) == {f"{p}:{t}" for t in kept for p in "vr"}
    assert metric(running_stack, "auth", "auth_cleanup_expired_tokens_total") == counted + 6
    assert (
        metric(running_stack, "auth", "auth_cleanup_expired_tokens_total", table="password_reset_tokens") >= 3
    )
    assert metric(running_stack, "auth", "auth_cleanup_duration_seconds_count") == runs + 1
    assert metric(running_stack, "auth", "auth_cleanup_failed_total") == 0


def test_the_periodic_job_deletes_expired_tokens_with_cleanup_jobs_on(stack_profile: ProfileSwitcher) -> None:
    # The session stack's interval is 30 s; a short one shows the job runs by itself, repeatedly.
    with stack_profile("hardened", env={"SC_CLEANUP_INTERVAL": "0.3"}) as stack:
        first, _ = plant_tokens(stack, expired=2, live=0)
        wait_for(lambda: not remaining(stack, first), timeout=10)
        second, kept = plant_tokens(stack, expired=1, live=1)
        wait_for(lambda: not remaining(stack, second), timeout=10)
        assert len(remaining(stack, kept)) == 2
        assert metric(stack, "auth", "auth_cleanup_expired_tokens_total") >= 6
        assert metric(stack, "auth", "auth_cleanup_duration_seconds_count") >= 2
