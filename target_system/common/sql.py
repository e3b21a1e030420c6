"""SQL store access over an asyncpg pool, with the POOL_LIMITS and STORE_TIMEOUTS switches.

- The pool holds at most `pool_size` connections in every profile: 10, asyncpg's `create_pool` default
  (max_size=10), as the unfixed Go code kept pgxpool's default size. The size is not the fix.
- POOL_LIMITS on: a bounded wait for a pooled connection (`pool_acquire_timeout`); a wait that runs
  out answers 503 and counts `db_pool_acquire_timeout_total{service,store}`.
  Off: asyncpg's default acquire (timeout=None): requests queue behind the pool forever, the reports'
  "no connection limit handling".
- STORE_TIMEOUTS on: every query and connect is bounded by `store_timeout`; a query that runs out
  answers 503 and counts `db_query_timeout_total{service,store}`.
- An unreachable server answers 503 (`sql_unavailable`) whatever the switches; a value the server
  refuses (NUL in text, a malformed number: SQLSTATE class 22) answers 400 `invalid_input`.

SQL stays within what both PostgreSQL and CockroachDB accept (no SERIAL, no PL/pgSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from target_system.common.errors import BadRequest, Unavailable
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.switches import Switch

log = logging.getLogger(__name__)

# The server is unreachable, restarting or dropped us: a clean 503, not a 500.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class SqlUnavailable(Unavailable):
    CODE = "sql_unavailable"
    MESSAGE = "the SQL store is unavailable"


class SqlConnection:
    """One acquired connection; its queries follow the store's timeout rule."""

    def __init__(self, store: SqlStore, conn: asyncpg.Connection) -> None:
        self._store = store
        self.raw = conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._store._run(self.raw.fetch, query, args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._store._run(self.raw.fetchrow, query, args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._store._run(self.raw.fetchval, query, args)

    async def execute(self, query: str, *args: Any) -> str:
        return await self._store._run(self.raw.execute, query, args)


class SqlStore:
    """A pool to one SQL store (`name` labels its metrics: `cockroach`, `cassandra`...)."""

    def __init__(
        self, dsn: str, settings: Settings, metrics: ServiceMetrics, *, name: str = "cockroach"
    ) -> None:
        tun = settings.tunables
        self.dsn = dsn
        self.name = name
        self._service = metrics.service
        limited = settings.switches.on(Switch.POOL_LIMITS)
        self._max_size = tun.pool_size  # the same in every profile: only the acquire wait is the fix
        self._acquire_timeout: float | None = tun.pool_acquire_timeout if limited else None
        self._query_timeout: float | None = (
            tun.store_timeout if settings.switches.on(Switch.STORE_TIMEOUTS) else None
        )
        self._migrate_timeout = tun.migrate_timeout
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._acquire_timeouts = metrics.counter(
            "db_pool_acquire_timeout_total",
            "SQL pool acquisitions that ran out of time",
            ("service", "store"),
        ).labels(self._service, name)
        self._query_timeouts = metrics.counter(
            "db_query_timeout_total", "SQL queries that ran out of time", ("service", "store")
        ).labels(self._service, name)
        self._unavailable = metrics.counter(
            "db_unavailable_total", "SQL calls that could not reach the server", ("service", "store")
        ).labels(self._service, name)

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    # min_size=0: creating the pool never connects, so a store that is down at
                    # startup does not kill the service; connections open on demand and are kept.
                    self._pool = await asyncpg.create_pool(
                        self.dsn,
                        min_size=0,
                        max_size=self._max_size,
                        timeout=self._query_timeout if self._query_timeout is not None else 60.0,
                        max_inactive_connection_lifetime=300.0,
                    )
        return self._pool

    async def _run(self, method: Any, query: str, args: Sequence[Any]) -> Any:
        try:
            return await method(query, *args, timeout=self._query_timeout)
        except TimeoutError as exc:
            self._query_timeouts.inc()
            raise SqlUnavailable(f"{self.name}: query took longer than {self._query_timeout}s") from exc
        except CONNECTION_ERRORS as exc:
            self._unavailable.inc()
            raise SqlUnavailable(f"{self.name}: {type(exc).__name__}: {exc}"[:300]) from exc
        except asyncpg.DataError as exc:
            # A value the store refuses (SQLSTATE class 22, or one asyncpg cannot encode): the request's
            # fault, never the server's. The request models keep such values out; this is the backstop.
            log.info("%s refused a value: %s", self.name, exc)
            raise BadRequest("the request holds a value that cannot be stored", code="invalid_input") from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[SqlConnection]:
        """An acquired connection, released on exit."""
        pool = await self._get_pool()
        try:
            conn = await pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError as exc:
            self._acquire_timeouts.inc()
            raise SqlUnavailable(
                f"{self.name}: no pooled connection within {self._acquire_timeout}s", code="db_pool_exhausted"
            ) from exc
        except CONNECTION_ERRORS as exc:
            self._unavailable.inc()
            raise SqlUnavailable(f"{self.name}: {type(exc).__name__}: {exc}"[:300]) from exc
        broken = False
        try:
            yield SqlConnection(self, conn)
        except (SqlUnavailable, asyncio.CancelledError):
            broken = True  # timed out, unreachable, or cancelled mid-query (request timeout)
            raise
        finally:
            await self._release(pool, conn, broken)

    @staticmethod
    async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection, broken: bool) -> None:
        # A connection whose query timed out or whose server vanished is dropped, not reset: resetting
        # waits for the server to confirm the cancellation, which through a slow link is the very wait
        # the timeout was there to avoid.
        if broken:
            conn.terminate()
        try:
            await pool.release(conn)
        except Exception:
            log.debug("dropping a SQL connection that could not be released", exc_info=True)
            conn.terminate()
            with contextlib.suppress(Exception):
                await pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlConnection]:
        """A connection inside a transaction: committed on a clean exit, rolled back on an error.

        BEGIN and COMMIT go through the same bounded path as every query (asyncpg's Transaction
        object would send them without the store's timeout, so a slow link would hang them)."""
        async with self.connection() as conn:
            await conn.execute("BEGIN")
            try:
                yield conn
            except (SqlUnavailable, asyncio.CancelledError):
                raise  # the connection is dropped on release; a rollback would only wait on the dead link
            except BaseException:
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # the connection may be gone: the error that got us here matters more
                    log.debug("rollback failed on %s", self.name, exc_info=True)
                raise
            else:
                await conn.execute("COMMIT")

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn:
            return await conn.execute(query, *args)

    async def ping(self) -> None:
        """The ready check: one `SELECT 1`."""
        await self.fetchval("SELECT 1")

    async def migrate(self, statements: Sequence[str]) -> None:
        """Run idempotent schema statements, retrying until the store answers (up to `migrate_timeout`).

        Services may start before their store is reachable (start-order races); this waits instead of
        dying. After the deadline the last error is raised.
        """
        deadline = time.monotonic() + self._migrate_timeout
        delay = 0.1
        while True:
            try:
                pool = await self._get_pool()
                async with pool.acquire(timeout=5.0) as conn:
                    for statement in statements:
                        await conn.execute(statement, timeout=30.0)
                return
            except (*CONNECTION_ERRORS, TimeoutError, asyncpg.PostgresError) as exc:
                if time.monotonic() + delay > deadline:
                    raise SqlUnavailable(f"{self.name}: schema migration failed: {exc}") from exc
                log.warning("%s not ready for migration (%s); retrying", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 5.0)
            except Exception:
                self._pool.terminate()
            self._pool = None
