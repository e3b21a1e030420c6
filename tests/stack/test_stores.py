"""The session stack: stores answer through their proxy links (Redis PING, SELECT 1); profiles switch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager

import asyncpg
import httpx
import psutil
import pytest
import redis

from chaosgate.stack.launcher import LocalStack

ProfileSwitcher = Callable[..., AbstractContextManager[LocalStack]]  # the stack_profile fixture


def test_redis_answers_ping_through_its_proxy(local_stack: LocalStack) -> None:
    client = redis.Redis.from_url(local_stack.url_of("redis", via_proxy=True), socket_timeout=5)
    try:
        assert client.ping() is True
        # Persistence is off: the server was started with no save points and no AOF.
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


async def select_one(dsn: str) -> tuple[int, str]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchval("SELECT 1"), await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()


def test_both_postgres_servers_answer_select_1_through_their_proxies(local_stack: LocalStack) -> None:
    for name in ("cockroach", "cassandra"):
        database = local_stack.topology.stores[name].database
        dsn = local_stack.url_of(name, via_proxy=True)
        assert f":{local_stack.topology.links[name].listen}/" in dsn
        assert asyncio.run(select_one(dsn)) == (1, database)


def test_postgres_runs_tuned_and_unprivileged(local_stack: LocalStack) -> None:
    async def settings() -> dict[str, str]:
        conn = await asyncpg.connect(local_stack.url_of("cockroach"), timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'max_connections', 'listen_addresses')"
            )
            return {row["name"]: row["setting"] for row in rows}
        finally:
            await conn.close()

    assert asyncio.run(settings()) == {
        "fsync": "off",
        "max_connections": "100",
        "listen_addresses": "127.0.0.1",
    }


def test_the_proxy_has_one_proxy_per_link(local_stack: LocalStack, proxy_api: str) -> None:
    listed = httpx.get(f"{proxy_api}/proxies", timeout=5).json()
    topology = local_stack.topology
    assert set(listed) == set(topology.links)
    for name in topology.links:
        assert listed[name]["listen"] == topology.link_address(name)
        assert listed[name]["upstream"] == topology.upstream_address(name)
        assert listed[name]["enabled"] is True


def test_status_reports_every_component_healthy(local_stack: LocalStack) -> None:
    status = local_stack.status()
    assert status.up, [c for c in status.components if not c.healthy]
    assert {c.name for c in status.components} == {
        *local_stack.topology.stores,
        "proxy",
        *local_stack.services,
    }
    assert all(c.pid for c in status.components)
    assert status.gateway_url == local_stack.gateway_url


def test_stack_profile_restarts_only_the_services_and_restores_them(
    local_stack: LocalStack, stack_profile: ProfileSwitcher
) -> None:
    if not local_stack.services:
        pytest.skip("target_system services are not part of this session's stack")
    redis_pid, proxy_pid = local_stack.pid_of("redis"), local_stack.pid_of("proxy")
    gateway_pid = local_stack.pid_of(local_stack.topology.gateway)
    with stack_profile("baseline", redis_retry=True) as stack:
        env = psutil.Process(stack.pid_of(stack.topology.gateway)).environ()
        assert (env["SC_PROFILE"], env["SC_SWITCHES"]) == ("baseline", "redis_retry=on")
        assert stack.status().up
    env = psutil.Process(local_stack.pid_of(local_stack.topology.gateway)).environ()
    assert (env["SC_PROFILE"], env["SC_SWITCHES"]) == ("hardened", "")
    assert local_stack.pid_of(local_stack.topology.gateway) != gateway_pid
    assert (local_stack.pid_of("redis"), local_stack.pid_of("proxy")) == (redis_pid, proxy_pid)
