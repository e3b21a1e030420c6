"""Connection-pool exhaustion: a runaway client takes every connection the SQL server allows.

The injector connects straight to the server (not through the link's proxy, so toxics on the link
do not get in its way), holds as many connections as the server gives it, and terminates the
other backends of the database so that services must reconnect into a full server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import ModuleType
from typing import TYPE_CHECKING

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.scenario.models import PoolFault

from .background import BackgroundHold

if TYPE_CHECKING:
    import asyncpg

GRACE_S = 15.0


def _pg() -> ModuleType:
    """asyncpg, imported when a pool fault is set up: it is an extra (`pip install 'chaosgate[postgres]'`),
    so a plain install still lists this injector and says what is missing only when a scenario uses it."""
    try:
        import asyncpg
    except ImportError as exc:
        raise FaultError("the pool injector needs asyncpg: pip install 'chaosgate[postgres]'") from exc
    return asyncpg


class PoolInjector(Injector[PoolFault]):
    name = "pool"
    fault = PoolFault

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        _pg()
        self._holds: dict[str, BackgroundHold] = {}
        self._held: dict[str, int] = {}

    def _dsn(self, store: str, *, via_link: bool) -> str:
        topology = self.env.topology
        port = topology.stores[store].port
        address = topology.link_address(store) if via_link else f"{self.env.host}:{port}"
        return topology.store_url(store, address=address)

    def apply(self, spec: PoolFault, *, fault_id: str) -> HandleData:
        dsn = self._dsn(spec.store, via_link=False)

        async def hold(stop: asyncio.Event) -> None:
            connections: list[asyncpg.Connection] = []
            sleepers: list[asyncio.Task[str]] = []
            try:
                if spec.mode == "lock":
                    await _lock_everything(dsn, connections)
                    self._held[fault_id] = len(connections)
                    await stop.wait()
                    return
                # Fill the server, evict everyone else, and fill again: the evicted clients race
                # us for the freed slots, so a few rounds (bounded) leave them none.
                for _ in range(5):
                    await _fill(dsn, connections, spec.connections)
                    if not connections or not await _evict_others(connections):
                        break
                await _fill(dsn, connections, spec.connections)
                self._held[fault_id] = len(connections)
                if spec.mode == "query":  # busy connections, not idle ones
                    sleepers = [asyncio.create_task(c.execute("SELECT pg_sleep(3600)")) for c in connections]
                await stop.wait()
            finally:
                for task in sleepers:
                    task.cancel()
                await asyncio.gather(*sleepers, return_exceptions=True)
                for c in connections:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(c.close(), 2)

        background = BackgroundHold(f"pool-{fault_id}", hold, spec.duration + GRACE_S)
        background.start()
        deadline = time.monotonic() + 30
        while fault_id not in self._held and background.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        if background.error is not None or fault_id not in self._held:
            background.release()
            raise FaultError(f"could not open connections to {spec.store}: {background.error}")
        self._holds[fault_id] = background
        return {"held": self._held[fault_id]}

    def verify(self, spec: PoolFault, data: HandleData) -> str:
        if spec.mode == "lock":
            return asyncio.run(self._verify_locked(spec))

        async def try_connect() -> str:
            try:
                conn = await _pg().connect(self._dsn(spec.store, via_link=True), timeout=1)
            except _pg().TooManyConnectionsError:
                return "refused: too many clients"
            except (TimeoutError, OSError, _pg().PostgresError) as exc:
                return f"refused: {type(exc).__name__}"
            await conn.close()
            return ""

        refusal = asyncio.run(try_connect())
        if not refusal:
            raise FaultError(f"{spec.store} still accepts connections with {data.get('held')} held")
        return f"holding {data.get('held')} connections to {spec.store}; a new one is {refusal}"

    async def _verify_locked(self, spec: PoolFault) -> str:
        conn = await _pg().connect(self._dsn(spec.store, via_link=True), timeout=1)
        try:
            table = await conn.fetchval(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' LIMIT 1"
            )
            await conn.fetchval(f"SELECT count(*) FROM {table}", timeout=0.5)
        except TimeoutError:
            return f"every table of {spec.store} is locked: a query through the link waits"
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1)
        raise FaultError(f"{spec.store}: a query through the link was not held up by the locks")

    def remove(self, spec: PoolFault, data: HandleData) -> None:
        # In another process (watchdog, sweep) there is nothing to do: the held connections
        # closed when the process that held them died.
        hold = self._holds.pop(str(data.get("fault_id")), None)
        if hold is not None:
            hold.release()

    def close(self) -> None:
        for hold in self._holds.values():
            hold.release()
        self._holds.clear()


async def _fill(dsn: str, connections: list[asyncpg.Connection], limit: int) -> None:
    """Open connections until the server refuses one or `limit` are held."""
    while len(connections) < limit:
        try:
            connections.append(await _pg().connect(dsn, timeout=2))
        except (_pg().TooManyConnectionsError, _pg().CannotConnectNowError, OSError):
            return  # the server is full: that is the point


async def _evict_others(connections: list[asyncpg.Connection]) -> int:
    """Terminate every other client of the database; returns how many there were."""
    evicted = await connections[0].fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> ALL($1::int[])",
        [c.get_server_pid() for c in connections],
    )
    return int(evicted or 0)


async def _lock_everything(dsn: str, connections: list[asyncpg.Connection]) -> None:
    """One connection, one open transaction, an exclusive lock on every table of the database."""
    conn = await _pg().connect(dsn, timeout=2)
    connections.append(conn)
    tables = await conn.fetch("SELECT quote_ident(tablename) AS t FROM pg_tables WHERE schemaname = 'public'")
    if not tables:
        raise FaultError("the database has no tables to lock")
    await conn.execute("BEGIN")
    await conn.execute(f"LOCK TABLE {', '.join(r['t'] for r in tables)} IN ACCESS EXCLUSIVE MODE")
