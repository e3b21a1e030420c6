"""The chat service's root object: every store, repository and switch-driven policy, built in one place."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from target_system.chat.conversations import Conversations, MembershipCache
from target_system.chat.fanout import Fanout
from target_system.chat.hub import Hub
from target_system.chat.message_cache import GuardedMessageStore, RecentMessages, StorePolicy
from target_system.chat.message_store import MESSAGE_SCHEMA, MessageStore, PostgresMessageStore
from target_system.chat.metrics import ChatMetrics
from target_system.chat.polls import Polls
from target_system.chat.presence import Presence
from target_system.chat.schema import CHAT_SCHEMA
from target_system.chat.sending import MessageSender, WriteBehind
from target_system.chat.tunables import ChatTunables
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.common.revocations import RevocationFeed
from target_system.common.sql import SqlStore
from target_system.common.tokens import Authenticator, CachingTokenCodec
from target_system.common.wsgate import SocketGate, UserSocketCap
from target_system.settings import Settings
from target_system.switches import Switch

DEFAULT_SQL_DSN = "postgresql://postgres@127.0.0.1:26257/secureconnect"
DEFAULT_MESSAGES_DSN = "postgresql://postgres@127.0.0.1:29042/messages"


@dataclass(frozen=True, slots=True)
class ChatPolicy:
    """What the switches mean for chat, resolved once."""

    polling_fallback: bool  # a send with pub/sub down still succeeds (degraded)
    persist_first: bool  # a send is stored before it is acknowledged or broadcast (off: written behind)
    presence_fail_open: bool
    ws_cap: int | None  # None: no cap
    send_queue_limit: int  # 0: unbounded

    @classmethod
    def from_settings(cls, settings: Settings, tunables: ChatTunables) -> ChatPolicy:
        on = settings.switches.on
        # WS_CAP off is not "no limit": the unfixed handlers already rejected past 1000 connections and
        # gave each client a 1000-message send channel (chaos readiness analysis, scenario #5).
        legacy = settings.tunables
        return cls(
            polling_fallback=on(Switch.POLLING_FALLBACK),
            persist_first=on(Switch.PERSIST_FIRST),
            presence_fail_open=on(Switch.PRESENCE_FAIL_OPEN),
            ws_cap=tunables.ws_cap if on(Switch.WS_CAP) else legacy.legacy_ws_cap,
            send_queue_limit=tunables.send_queue_limit if on(Switch.WS_CAP) else legacy.legacy_ws_buffer,
        )


def message_store_policy(settings: Settings) -> StorePolicy:
    """MESSAGE_CACHE: a timeout and the cache; STORE_TIMEOUTS alone: a timeout (503); neither: wait.

    Every profile retries store errors (the unfixed gocql retry policy, see `StorePolicy`)."""
    tun = settings.tunables
    cache = settings.switches.on(Switch.MESSAGE_CACHE)
    bounded = cache or settings.switches.on(Switch.STORE_TIMEOUTS)
    return StorePolicy(
        timeout=tun.store_timeout if bounded else None,
        cache_fallback=cache,
        retries=tun.message_store_retries,
        retry_min=tun.message_store_retry_min,
        retry_max=tun.message_store_retry_max,
    )


@dataclass(frozen=True, slots=True)
class MessageBackend:
    """The message store and its lifecycle: PostgreSQL locally, Cassandra in compose."""

    store: MessageStore
    start: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


def message_backend(
    settings: Settings, service_metrics: ServiceMetrics, environ: Mapping[str, str]
) -> MessageBackend:
    """`SC_MESSAGE_STORE=cassandra` (compose) or `postgres` (default: the local stand-in)."""
    kind = environ.get("SC_MESSAGE_STORE", "").strip() or "postgres"
    if kind == "cassandra":
        # Imported here: cassandra-driver is the `cassandra` extra, needed only where Cassandra runs.
        from target_system.chat.cassandra_store import CassandraConfig, CassandraMessageStore

        cassandra = CassandraMessageStore(CassandraConfig.from_env(settings, environ), service_metrics)
        return MessageBackend(cassandra, cassandra.start, cassandra.close)
    if kind != "postgres":
        raise ValueError(f"SC_MESSAGE_STORE={kind!r}: expected postgres or cassandra")
    sql = SqlStore(settings.messages_dsn or DEFAULT_MESSAGES_DSN, settings, service_metrics, name="cassandra")

    async def migrate() -> None:
        await sql.migrate(MESSAGE_SCHEMA)

    return MessageBackend(PostgresMessageStore(sql), migrate, sql.close)


@dataclass(slots=True)
class ChatService:
    settings: Settings
    policy: ChatPolicy
    metrics: ChatMetrics
    sql: SqlStore
    message_backend: MessageBackend
    redis: ResilientRedis
    auth: Authenticator
    revocation_feed: RevocationFeed
    conversations: Conversations
    messages: GuardedMessageStore
    sender: MessageSender
    polls: Polls
    presence: Presence
    fanout: Fanout
    hub: Hub
    gate: SocketGate
    user_sockets: UserSocketCap

    @property
    def send_queue_limit(self) -> int:
        return self.policy.send_queue_limit

    @classmethod
    def build(
        cls,
        settings: Settings,
        service_metrics: ServiceMetrics,
        tunables: ChatTunables,
        environ: Mapping[str, str] | None = None,
    ) -> ChatService:
        """Everything wired, nothing connected yet (`start` does that)."""
        policy = ChatPolicy.from_settings(settings, tunables)
        metrics = ChatMetrics.create(service_metrics)
        sql = SqlStore(settings.sql_dsn or DEFAULT_SQL_DSN, settings, service_metrics, name="cockroach")
        backend = message_backend(settings, service_metrics, os.environ if environ is None else environ)
        redis = ResilientRedis(settings, service_metrics)
        auth = Authenticator(settings, redis, service_metrics)
        auth.codec = CachingTokenCodec(settings)
        messages = GuardedMessageStore(
            backend.store, policy=message_store_policy(settings), cache=RecentMessages(), metrics=metrics
        )
        write_behind = (
            None
            if policy.persist_first
            else WriteBehind(
                messages, metrics, queue_limit=tunables.persist_queue, writers=tunables.persist_writers
            )
        )
        return cls(
            settings=settings,
            policy=policy,
            metrics=metrics,
            sql=sql,
            message_backend=backend,
            redis=redis,
            auth=auth,
            revocation_feed=RevocationFeed(settings, auth.revocations, service_metrics),
            conversations=Conversations(sql, MembershipCache()),
            messages=messages,
            sender=MessageSender(messages, metrics, write_behind),
            polls=Polls(sql),
            presence=Presence(redis, fail_open=policy.presence_fail_open, ttl=tunables.presence_ttl),
            fanout=Fanout(redis),
            hub=Hub(
                redis.client, reconnect=settings.switches.on(Switch.PUBSUB_RECONNECT), metrics=service_metrics
            ),
            gate=SocketGate(policy.ws_cap),
            user_sockets=UserSocketCap(settings.tunables.ws_user_cap),
        )

    async def start(self) -> None:
        await self.sql.migrate(CHAT_SCHEMA)
        await self.message_backend.start()
        if self.sender.write_behind is not None:
            await self.sender.write_behind.start()
        await self.hub.start()
        await self.revocation_feed.start()

    async def stop(self) -> None:
        await self.revocation_feed.stop()
        await self.hub.stop()
        await self.redis.close()
        if self.sender.write_behind is not None:
            await self.sender.write_behind.stop()  # before the store it writes to closes
        await self.message_backend.close()
        await self.sql.close()
