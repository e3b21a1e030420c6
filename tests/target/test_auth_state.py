"""Auth's session/blacklist/lockout store against an unreachable Redis, in process: fallback on and off."""

from __future__ import annotations

import socket
import time

import pytest

from target_system.auth.state import AuthState, SessionRecord
from target_system.common.degraded import begin_request, end_request
from target_system.common.errors import ServiceError
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import RedisUnavailable, ResilientRedis
from target_system.common.revocations import LocalRevocations
from target_system.settings import Settings


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def make_state(profile: str, switches: str = "") -> tuple[AuthState, ServiceMetrics, ResilientRedis]:
    settings = Settings.from_env(
        {
            "SC_PROFILE": profile,
            "SC_SWITCHES": switches,
            "SC_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        }
    )
    metrics = ServiceMetrics("auth")
    redis = ResilientRedis(settings, metrics)
    return AuthState(settings, redis, metrics, LocalRevocations()), metrics, redis


async def test_fallback_keeps_sessions_lockout_and_revocations_in_memory() -> None:
    state, metrics, redis = make_state("hardened")
    marks, token = begin_request()
    try:
        record = SessionRecord("user-1", "hash", time.time() + 60)
        await state.put_session("sid-1", record)
        assert await state.get_session("sid-1") == record
        assert state.has_local_session("sid-1")
        assert await state.count_attempt("a@b.co") == 1
        assert await state.count_attempt("a@b.co") == 2
        await state.put_session("sid-2", record, clear_lockout_of="a@b.co")  # a login that succeeded
        assert await state.count_attempt("a@b.co") == 1
        await state.revoke("jti-1", int(time.time()) + 60)
        assert "jti-1" in state.revocations
        await state.delete_session("sid-1")
        assert await state.get_session("sid-1") is None
    finally:
        end_request(token)
        await redis.close()
    assert marks.reasons == ["redis_unavailable"]
    assert state.pending == 3  # the revocation, sid-1's delete and sid-2 wait for Redis to come back
    assert (
        metrics.registry.get_sample_value("auth_fallback_total", {"service": "auth", "op": "session_put"})
        == 2
    )
    # REDIS_RETRY: the first failing call was retried (bounded) before falling back.
    assert (
        metrics.registry.get_sample_value("redis_retry_total", {"service": "auth", "op": "set"}) or 0
    ) >= 1


async def test_without_fallback_redis_errors_surface() -> None:
    state, metrics, redis = make_state("baseline")
    try:
        # Fail-closed as the reports found it: the Redis error becomes a 500, not a clean 503.
        with pytest.raises(ServiceError) as failure:
            await state.put_session("sid-1", SessionRecord("user-1", "hash", time.time() + 60))
        assert failure.value.status == 500 and failure.value.code == "internal_error"
        assert isinstance(failure.value.__cause__, RedisUnavailable)
        with pytest.raises(ServiceError) as locked:
            await state.count_attempt("a@b.co")
        assert locked.value.status == 500
    finally:
        await redis.close()
    assert metrics.registry.get_sample_value("redis_retry_total", {"service": "auth", "op": "set"}) is None


async def test_sync_waits_while_redis_is_still_down() -> None:
    state, _, redis = make_state("hardened")
    try:
        await state.revoke("jti-1", int(time.time()) + 60)
        assert state.pending == 1
        assert await state.sync() == 0  # Redis failed a moment ago: nothing is attempted yet
        assert state.pending == 1
    finally:
        await redis.close()
