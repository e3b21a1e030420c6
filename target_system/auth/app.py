"""The auth service app: HTTP routes over `AuthService`, plus its background jobs."""

# No `from __future__ import annotations` here: FastAPI must see the real `User` dependency type,
# which is local to _auth_routes.
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from starlette.responses import Response

from target_system.auth.admin import admin_router
from target_system.auth.cleanup import TokenCleanup
from target_system.auth.journal import JOURNAL_SCHEMA, RevocationJournal
from target_system.auth.models import (
    LoginIn,
    RefreshIn,
    RegisterIn,
    TokenPair,
    UserOut,
    VerifyEmailIn,
)
from target_system.auth.passwords import Passwords
from target_system.auth.schema import AUTH_SCHEMA
from target_system.auth.service import AuthService
from target_system.auth.state import AuthState
from target_system.common.app import Lifespan, ReadyCheck, create_service_app
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.common.revocations import LocalRevocations, RevocationFeed
from target_system.common.sql import SqlStore
from target_system.common.tokens import Authenticator, CurrentUser
from target_system.settings import Settings
from target_system.switches import Switch

SERVICE = "auth"
SYNC_INTERVAL = 0.5  # how often state made during a Redis outage is written back
log = logging.getLogger(__name__)


async def _every(interval: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `job` every `interval` seconds until cancelled; a failing run is logged, not fatal."""
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception as exc:
            log.warning("%s failed: %s", name, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The auth app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    if not settings.sql_dsn:
        raise ValueError("auth needs SC_SQL_DSN (the users database)")
    metrics = ServiceMetrics(SERVICE)
    redis = ResilientRedis(settings, metrics)
    sql = SqlStore(settings.sql_dsn, settings, metrics, name="cockroach")
    revocations = LocalRevocations()
    state = AuthState(settings, redis, metrics, revocations, RevocationJournal(sql))
    feed = RevocationFeed(settings, revocations, metrics)
    authenticator = Authenticator(
        settings, redis, metrics, revocations=revocations, local_session=state.has_local_session
    )
    service = AuthService(settings, sql, state, authenticator.codec, Passwords(settings))
    cleanup = TokenCleanup(sql, metrics)

    lifespan = _lifespan(settings, sql, redis, state, feed, cleanup)
    # With REDIS_FALLBACK on, auth serves through a Redis outage, so Redis only degrades readiness.
    redis_checks: dict[str, ReadyCheck] = {"redis": redis.ping}
    fallback = settings.switches.on(Switch.REDIS_FALLBACK)
    app = create_service_app(
        settings,
        name=SERVICE,
        ready_checks={"sql": sql.ping, **({} if fallback else redis_checks)},
        soft_checks=redis_checks if fallback else {},
        lifespan=lifespan,
        metrics=metrics,
    )

    _auth_routes(app, service, authenticator)
    app.include_router(admin_router(cleanup, settings.admin_token))
    app.state.auth_state = state
    return app


def _lifespan(
    settings: Settings,
    sql: SqlStore,
    redis: ResilientRedis,
    state: AuthState,
    feed: RevocationFeed,
    cleanup: TokenCleanup,
) -> Lifespan:
    """Start-up (schema, restored state, the revocation feed, background jobs) and shut-down."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await sql.migrate((*AUTH_SCHEMA, *JOURNAL_SCHEMA))
        await state.restore()
        await feed.start()
        jobs = [asyncio.create_task(_every(SYNC_INTERVAL, state.sync, "state sync"))]
        if settings.switches.on(Switch.CLEANUP_JOBS):
            interval = settings.tunables.cleanup_interval
            jobs.append(asyncio.create_task(_every(interval, cleanup.run, "cleanup")))
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            await feed.stop()
            await sql.close()
            await redis.close()

    return lifespan


def _auth_routes(app: FastAPI, service: AuthService, authenticator: Authenticator) -> None:
    """Register, log in and out, refresh, who am I, verify the email address."""
    User = Annotated[CurrentUser, Depends(authenticator.require_user)]

    @app.post("/v1/auth/register", status_code=201)
    async def register(body: RegisterIn) -> UserOut:
        return await service.register(body)

    @app.post("/v1/auth/login")
    async def login(body: LoginIn) -> TokenPair:
        return await service.login(body)

    @app.post("/v1/auth/refresh")
    async def refresh(body: RefreshIn) -> TokenPair:
        return await service.refresh(body.refresh_token)

    @app.post("/v1/auth/logout", status_code=204)
    async def logout(user: User) -> Response:
        await service.logout(user)
        return Response(status_code=204)

    @app.get("/v1/auth/me")
    async def me(user: User) -> UserOut:
        return await service.me(user)

    @app.post("/v1/auth/verify-email")
    async def verify_email(body: VerifyEmailIn) -> UserOut:
        return await service.verify_email(body.token)
