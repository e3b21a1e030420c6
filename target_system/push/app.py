"""`create_app(settings)`: the push service as an ASGI app (`python -m target_system push`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from target_system.common.app import Lifespan, create_service_app
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.common.revocations import RevocationFeed
from target_system.common.sql import SqlStore
from target_system.common.tokens import Authenticator
from target_system.push.devices import DeviceRegistry
from target_system.push.events import chat_messages
from target_system.push.members import ConversationMembers
from target_system.push.metrics import PushMetrics
from target_system.push.notifier import Notifier, retire_token
from target_system.push.outbox import Outbox, OutboxTable
from target_system.push.provider import ProviderClient
from target_system.push.routes import build_router
from target_system.push.tunables import PushTunables
from target_system.settings import Settings
from target_system.switches import Switch

SERVICE = "push"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The push app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    if not settings.sql_dsn or not settings.push_provider_url:
        raise ValueError("push needs SC_SQL_DSN (chat's members) and SC_PUSH_PROVIDER_URL")
    tunables = PushTunables.from_env(os.environ)
    metrics = ServiceMetrics(SERVICE)
    redis = ResilientRedis(settings, metrics)
    sql = SqlStore(settings.sql_dsn, settings, metrics, name="cockroach")
    devices = DeviceRegistry(redis)
    provider = ProviderClient(
        settings.push_provider_url, tunables, hardened=settings.switches.on(Switch.PUSH_TIMEOUTS)
    )
    push_metrics = PushMetrics.create(metrics)
    outbox = _outbox(settings, sql, provider, push_metrics, tunables, devices)
    notifier = Notifier(
        devices,
        ConversationMembers(sql),
        provider,
        push_metrics,
        concurrency=tunables.push_concurrency,
        outbox=outbox,
    )

    authenticator = Authenticator(settings, redis, metrics)
    feed = RevocationFeed(settings, authenticator.revocations, metrics)

    lifespan = _lifespan(notifier, outbox, feed, provider, sql, redis)

    # Devices live in Redis: it is the one hard dependency. SQL (chat's members, and the outbox under
    # PUSH_OUTBOX) only serves the asynchronous notifications, so it degrades readiness; the provider
    # is not checked at all.
    app = create_service_app(
        settings,
        name=SERVICE,
        ready_checks={"redis": redis.ping},
        soft_checks={"sql": sql.ping},
        lifespan=lifespan,
        metrics=metrics,
    )
    app.include_router(build_router(devices, authenticator))
    return app


def _outbox(
    settings: Settings,
    sql: SqlStore,
    provider: ProviderClient,
    push_metrics: PushMetrics,
    tunables: PushTunables,
    devices: DeviceRegistry,
) -> Outbox | None:
    """Under PUSH_OUTBOX, the table that keeps each notification until the provider took it."""
    if not settings.switches.on(Switch.PUSH_OUTBOX):
        return None
    return Outbox(
        OutboxTable(sql),
        provider,
        push_metrics,
        tunables,
        retire=functools.partial(retire_token, devices, push_metrics),
    )


def _lifespan(
    notifier: Notifier,
    outbox: Outbox | None,
    feed: RevocationFeed,
    provider: ProviderClient,
    sql: SqlStore,
    redis: ResilientRedis,
) -> Lifespan:
    """Start the notifier (and the outbox's sender) and the revocation feed; stop and close it all."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(notifier.run(chat_messages(redis.client)))]
        if outbox is not None:  # kept notifications of an earlier run are sent too
            tasks.append(asyncio.create_task(outbox.run()))
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await provider.close()
            await sql.close()
            await redis.close()

    return lifespan
