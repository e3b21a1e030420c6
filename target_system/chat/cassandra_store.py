"""The message store on Cassandra (the compose runtime's message store), through cassandra-driver.

Tables (CQL), the same data model `message_store.py` lays out on PostgreSQL:

    messages_by_conversation     PRIMARY KEY ((conversation_id), message_id), message_id DESC
    messages_by_idempotency_key  PRIMARY KEY ((conversation_id, idempotency_key)) -> message_id

Idempotency: a lookup table claimed with a lightweight transaction (`INSERT ... IF NOT EXISTS`), not an
LWT on the message row. The message row's key holds a fresh message id on every attempt, so `IF NOT
EXISTS` there could never see a retry; the lookup table's key is the client's (conversation, key), so
exactly one attempt wins the claim and every later one learns the winner's message id from the LWT's
own answer (no extra read). The message row is a plain upsert keyed by the claimed id: a retry that
finds the claim but no row (the winner died between the two writes) writes the row itself, so a
half-done send heals instead of being lost or doubled.

Failures map as in `common/sql.py`: a timeout (client- or server-side) or an unreachable cluster is a
clean 503 (`MessageStoreUnavailable`) counted in `db_query_timeout_total` / `db_unavailable_total`
with `store="cassandra"`; anything else (bad CQL) is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cassandra
from cassandra.cluster import Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import RetryPolicy, RoundRobinPolicy, WriteType
from cassandra.query import PreparedStatement, dict_factory

from target_system.chat.cassandra_cql import KEYSPACE_NAME, Cql, MessageCql
from target_system.chat.ids import id_time, new_message_id
from target_system.chat.message_store import Appended
from target_system.chat.models import HistoryPage, Message
from target_system.common.errors import Unavailable
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.switches import Switch

log = logging.getLogger(__name__)

STORE_NAME = "cassandra"

# The server or the driver gave up in time: the query may or may not have run.
TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    cassandra.OperationTimedOut,
    cassandra.ReadTimeout,
    cassandra.WriteTimeout,
)
# Nobody could serve the query: not enough replicas, no reachable host, a dropped connection.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    cassandra.Unavailable,
    cassandra.CoordinationFailure,
    NoHostAvailable,
    ConnectionException,
    OSError,
)


class MessageStoreUnavailable(Unavailable):
    CODE = "message_store_unavailable"
    MESSAGE = "the message store is unavailable"


# -- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CassandraConfig:
    """Where the cluster is and how long to wait: `SC_CASSANDRA_HOSTS` (comma list), `_PORT`, `_KEYSPACE`,
    `_RETRIES`; the query timeout is `store_timeout` when STORE_TIMEOUTS is on, else none.

    `max_retries` (driver-level, without backoff) defaults to 0: the unfixed code's 3 retries with
    exponential backoff are done once for both message stores by the chat guard (`StorePolicy`), since
    cassandra-driver's RetryPolicy cannot sleep between attempts."""

    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str = "messages"
    replication_factor: int = 1
    query_timeout: float | None = 1.0
    connect_timeout: float = 5.0
    max_retries: int = 0
    startup_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not KEYSPACE_NAME.match(self.keyspace):
            raise ValueError(f"SC_CASSANDRA_KEYSPACE={self.keyspace!r} is not a valid keyspace name")
        if not self.hosts:
            raise ValueError("SC_CASSANDRA_HOSTS names no host")

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str]) -> CassandraConfig:
        listed = environ.get("SC_CASSANDRA_HOSTS", "127.0.0.1").split(",")
        hosts = tuple(h.strip() for h in listed if h.strip())
        tun = settings.tunables
        return cls(
            hosts=hosts,
            port=_int(environ, "SC_CASSANDRA_PORT", 9042),
            keyspace=environ.get("SC_CASSANDRA_KEYSPACE", "").strip() or "messages",
            query_timeout=tun.store_timeout if settings.switches.on(Switch.STORE_TIMEOUTS) else None,
            max_retries=_int(environ, "SC_CASSANDRA_RETRIES", 0),
            startup_timeout=tun.migrate_timeout,
        )


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a valid int") from None


# -- retries and error mapping --------------------------------------------------------------------------


class BoundedRetryPolicy(RetryPolicy):
    """At most `max_retries` retries per query, and only where a retry cannot write twice.

    - read timeout: retry when enough replicas answered but the data did not come back (the
      driver's rule), at the same consistency;
    - write timeout: retry only idempotent SIMPLE/BATCH_LOG writes; a CAS (LWT) timeout leaves the
      Paxos round in an unknown state, so it is rethrown and the client's retry with the same
      idempotency key resolves it;
    - unavailable / request error (connection lost, overloaded): try the next host, idempotent only;
    - past the bound: rethrow, so a fault turns into a quick 503 rather than a retry storm.
    """

    def __init__(self, max_retries: int = 1) -> None:
        super().__init__()
        self.max_retries = max_retries

    def on_read_timeout(
        self,
        query: Any,
        consistency: Any,
        required_responses: int,
        received_responses: int,
        data_retrieved: bool,
        retry_num: int,
    ) -> tuple[int, Any]:
        if retry_num < self.max_retries and received_responses >= required_responses and not data_retrieved:
            return self.RETRY, consistency
        return self.RETHROW, None

    def on_write_timeout(
        self,
        query: Any,
        consistency: Any,
        write_type: Any,
        required_responses: int,
        received_responses: int,
        retry_num: int,
    ) -> tuple[int, Any]:
        safe = write_type in (WriteType.SIMPLE, WriteType.BATCH_LOG) and _idempotent(query)
        if retry_num < self.max_retries and safe:
            return self.RETRY, consistency
        return self.RETHROW, None

    def on_unavailable(
        self, query: Any, consistency: Any, required_replicas: int, alive_replicas: int, retry_num: int
    ) -> tuple[int, Any]:
        if retry_num < self.max_retries and _idempotent(query):
            return self.RETRY_NEXT_HOST, None  # another coordinator may see more replicas alive
        return self.RETHROW, None

    def on_request_error(
        self, query: Any, consistency: Any, error: Exception, retry_num: int
    ) -> tuple[int, Any]:
        if retry_num < self.max_retries and _idempotent(query):
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None


def _idempotent(query: Any) -> bool:
    return bool(getattr(query, "is_idempotent", False))


def map_error(exc: BaseException, *, timeout: float | None) -> MessageStoreUnavailable | None:
    """The 503 a driver error becomes, or None when it is not a store outage (a bug: let it raise)."""
    if isinstance(exc, TIMEOUT_ERRORS):
        limit = f"{timeout}s" if timeout is not None else "the server's timeout"
        return MessageStoreUnavailable(
            f"{STORE_NAME}: query took longer than {limit} ({type(exc).__name__})"[:300],
            code="message_store_timeout",
        )
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return MessageStoreUnavailable(f"{STORE_NAME}: {type(exc).__name__}: {exc}"[:300])
    return None


# -- the store ---------------------------------------------------------------------------------------


def _row_to_message(row: Mapping[str, Any]) -> Message:
    return Message(
        id=row["message_id"],
        conversation_id=row["conversation_id"],
        sender_id=row["sender_id"],
        body=row["body"],
        idempotency_key=row["idempotency_key"],
        # The timestamp comes back naive (UTC) and at millisecond precision; the id holds the same time.
        created_at=id_time(row["message_id"]),
    )


class CassandraMessageStore:
    """A MessageStore on a Cassandra cluster; `start` connects and creates the schema, `close` disconnects."""

    def __init__(self, config: CassandraConfig, metrics: ServiceMetrics) -> None:
        self.config = config
        self.cql = MessageCql(config.keyspace, replication_factor=config.replication_factor)
        self.retry_policy = BoundedRetryPolicy(config.max_retries)
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}
        labels = (metrics.service, STORE_NAME)
        self._timeouts = metrics.counter(
            "db_query_timeout_total", "SQL queries that ran out of time", ("service", "store")
        ).labels(*labels)
        self._unavailable = metrics.counter(
            "db_unavailable_total", "SQL calls that could not reach the server", ("service", "store")
        ).labels(*labels)

    # -- lifecycle --

    def _connect(self) -> Session:
        profile = ExecutionProfile(
            # Round robin over the contact points only: in compose the contact point is the fault
            # proxy, and the driver must not route around it to the node's own address.
            load_balancing_policy=RoundRobinPolicy(),
            retry_policy=self.retry_policy,
            consistency_level=cassandra.ConsistencyLevel.LOCAL_QUORUM,
            serial_consistency_level=cassandra.ConsistencyLevel.LOCAL_SERIAL,
            request_timeout=self.config.query_timeout,
            row_factory=dict_factory,
        )
        cluster = Cluster(
            contact_points=list(self.config.hosts),
            port=self.config.port,
            execution_profiles={"default": profile},
            connect_timeout=self.config.connect_timeout,
            control_connection_timeout=self.config.connect_timeout,
        )
        try:
            session = cluster.connect()
            for statement in self.cql.schema():
                session.execute(statement, timeout=30.0)
            self._prepared = {text: session.prepare(text) for text in self.cql.statements()}
        except BaseException:
            cluster.shutdown()
            raise
        self._cluster = cluster
        return session

    async def start(self) -> None:
        """Connect and create the schema, retrying until the cluster answers (it starts slowly)."""
        deadline = time.monotonic() + self.config.startup_timeout
        delay = 0.2
        while True:
            try:
                self._session = await asyncio.to_thread(self._connect)
                return
            except (*TIMEOUT_ERRORS, *UNAVAILABLE_ERRORS) as exc:
                if time.monotonic() + delay > deadline:
                    raise MessageStoreUnavailable(f"{STORE_NAME}: schema setup failed: {exc}"[:300]) from exc
                log.warning("%s not ready (%s); retrying", STORE_NAME, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    # -- running statements --

    async def _run(self, cql: Cql) -> list[dict[str, Any]]:
        session = self._session
        if session is None:
            self._unavailable.inc()
            raise MessageStoreUnavailable(f"{STORE_NAME}: not connected")
        bound = self._prepared[cql.text].bind(cql.values)
        bound.is_idempotent = cql.idempotent
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[dict[str, Any]]] = loop.create_future()

        # The driver answers on its own I/O thread: hand the result to the event loop's thread.
        def settle(rows: Sequence[dict[str, Any]] | None, exc: BaseException | None) -> None:
            if waiter.done():
                return
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(list(rows or ()))

        try:
            response = session.execute_async(bound, timeout=self.config.query_timeout)
            response.add_callbacks(
                lambda rows: loop.call_soon_threadsafe(settle, rows, None),
                lambda exc: loop.call_soon_threadsafe(settle, None, exc),
            )
            return await waiter
        except Exception as exc:
            mapped = map_error(exc, timeout=self.config.query_timeout)
            if mapped is None:
                raise
            (self._timeouts if isinstance(exc, TIMEOUT_ERRORS) else self._unavailable).inc()
            raise mapped from exc

    # -- MessageStore --

    async def append(
        self,
        conversation_id: uuid.UUID,
        sender_id: str,
        body: str,
        idempotency_key: str,
        *,
        message_id: uuid.UUID | None = None,
    ) -> Appended:
        message_id = new_message_id() if message_id is None else message_id
        claim = await self._run(self.cql.claim(conversation_id, idempotency_key, message_id))
        claimed: uuid.UUID = message_id
        if claim and not claim[0].get("[applied]", True):
            claimed = claim[0]["message_id"]
        message = Message(claimed, conversation_id, sender_id, body, idempotency_key, id_time(claimed))
        if claimed == message_id:  # ours: a first send, or our own claim answered again after a retry
            await self._run(self.cql.insert(message))
            return Appended(message, created=True)
        rows = await self._run(self.cql.select_one(conversation_id, claimed))
        if rows:
            return Appended(_row_to_message(rows[0]), created=False)
        # Claimed but never written (the first attempt died in between): finish its write.
        await self._run(self.cql.insert(message))
        return Appended(message, created=False)

    async def history(
        self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> HistoryPage:
        rows = await self._run(self.cql.newest(conversation_id, before=before, limit=limit + 1))
        return HistoryPage.first([_row_to_message(r) for r in rows], limit)

    async def after(
        self, conversation_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[Message]:
        if after is None:
            page = await self.history(conversation_id, before=None, limit=limit)
            return list(reversed(page.messages))
        rows = await self._run(self.cql.newer(conversation_id, after=after, limit=limit))
        return [_row_to_message(r) for r in rows]

    async def ready(self) -> None:
        await self._run(self.cql.ping())
