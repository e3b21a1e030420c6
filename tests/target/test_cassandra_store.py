"""The Cassandra message store without a Cassandra server: its CQL, its retry decisions, its error mapping,
its configuration and chat's choice of store; and its timeout against a server that never answers."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import cassandra
import pytest
from cassandra.cluster import NoHostAvailable
from cassandra.policies import RetryPolicy, WriteType
from cassandra.query import SimpleStatement

from target_system.chat.cassandra_cql import MessageCql
from target_system.chat.cassandra_store import (
    BoundedRetryPolicy,
    CassandraConfig,
    CassandraMessageStore,
    MessageStoreUnavailable,
    map_error,
)
from target_system.chat.ids import id_time, new_message_id
from target_system.chat.message_store import PostgresMessageStore
from target_system.chat.models import Message
from target_system.chat.service import message_backend
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings

CONVERSATION = uuid.UUID("0190f5a1-0000-7000-8000-000000000001")
ONE = cassandra.ConsistencyLevel.LOCAL_QUORUM


# -- CQL ------------------------------------------------------------------------------------------------


def test_schema_partitions_by_conversation_and_clusters_newest_first() -> None:
    keyspace, messages, keys = MessageCql("messages").schema()
    assert keyspace.startswith("CREATE KEYSPACE IF NOT EXISTS messages WITH replication")
    assert "'replication_factor': 1" in keyspace
    assert "CREATE TABLE IF NOT EXISTS messages.messages_by_conversation" in messages
    assert "PRIMARY KEY ((conversation_id), message_id)" in messages
    assert messages.endswith("WITH CLUSTERING ORDER BY (message_id DESC)")
    assert "messages.messages_by_idempotency_key" in keys
    assert "PRIMARY KEY ((conversation_id, idempotency_key))" in keys


def test_the_claim_is_a_lightweight_transaction_on_the_lookup_table() -> None:
    message_id = new_message_id()
    claim = MessageCql("messages").claim(CONVERSATION, "key-1", message_id)
    assert claim.text == (
        "INSERT INTO messages.messages_by_idempotency_key (conversation_id, idempotency_key, message_id) "
        "VALUES (?, ?, ?) IF NOT EXISTS"
    )
    assert claim.values == (CONVERSATION, "key-1", message_id)


def test_the_message_row_is_an_idempotent_upsert() -> None:
    message_id = new_message_id()
    message = Message(message_id, CONVERSATION, "alice", "hi", "key-1", id_time(message_id))
    insert = MessageCql("messages").insert(message)
    assert insert.text.startswith(
        "INSERT INTO messages.messages_by_conversation (conversation_id, message_id, sender_id,"
    )
    assert "IF NOT EXISTS" not in insert.text
    assert insert.values == (CONVERSATION, message_id, "alice", "hi", "key-1", id_time(message_id))
    assert insert.idempotent


def test_paging_stays_inside_one_partition() -> None:
    cql = MessageCql("chat_ks")
    cursor = new_message_id()
    first = cql.newest(CONVERSATION, before=None, limit=51)
    older = cql.newest(CONVERSATION, before=cursor, limit=51)
    newer = cql.newer(CONVERSATION, after=cursor, limit=20)
    assert first.text.endswith("FROM chat_ks.messages_by_conversation WHERE conversation_id = ? LIMIT ?")
    assert first.values == (CONVERSATION, 51)
    assert older.text.endswith("WHERE conversation_id = ? AND message_id < ? LIMIT ?")
    assert older.values == (CONVERSATION, cursor, 51)
    assert newer.text.endswith("WHERE conversation_id = ? AND message_id > ? ORDER BY message_id ASC LIMIT ?")
    assert newer.values == (CONVERSATION, cursor, 20)
    assert "ALLOW FILTERING" not in " ".join(cql.statements())


def test_every_statement_binds_as_many_values_as_it_has_markers() -> None:
    cql = MessageCql("messages")
    mid = new_message_id()
    message = Message(mid, CONVERSATION, "a", "b", "k", datetime.now(UTC))
    for statement in (
        cql.claim(CONVERSATION, "k", mid),
        cql.insert(message),
        cql.select_one(CONVERSATION, mid),
        cql.newest(CONVERSATION, before=None, limit=1),
        cql.newest(CONVERSATION, before=mid, limit=1),
        cql.newer(CONVERSATION, after=mid, limit=1),
        cql.ping(),
    ):
        assert statement.text.count("?") == len(statement.values), statement.text
        assert statement.text in cql.statements()


def test_uuidv7_ids_sort_by_time_as_cassandra_compares_them() -> None:
    # Cassandra orders non-v1 uuids by unsigned most-significant bits: the id's millisecond time first.
    earlier, later = new_message_id(now_ms=1_700_000_000_000), new_message_id(now_ms=1_700_000_000_001)
    assert (earlier.int >> 64) < (later.int >> 64)


def test_a_keyspace_name_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="keyspace"):
        MessageCql("messages; DROP KEYSPACE system")


# -- retry policy ---------------------------------------------------------------------------------------


def _statement(idempotent: bool) -> SimpleStatement:
    return SimpleStatement("SELECT 1", is_idempotent=idempotent)


def test_a_read_timeout_is_retried_once_when_only_the_data_was_missing() -> None:
    policy = BoundedRetryPolicy(max_retries=1)
    query = _statement(True)
    assert policy.on_read_timeout(query, ONE, 1, 1, False, retry_num=0) == (RetryPolicy.RETRY, ONE)
    assert policy.on_read_timeout(query, ONE, 1, 1, False, retry_num=1) == (RetryPolicy.RETHROW, None)
    assert policy.on_read_timeout(query, ONE, 2, 1, False, retry_num=0) == (RetryPolicy.RETHROW, None)
    assert policy.on_read_timeout(query, ONE, 1, 1, True, retry_num=0) == (RetryPolicy.RETHROW, None)


def test_write_timeouts_are_retried_only_when_a_retry_cannot_write_twice() -> None:
    policy = BoundedRetryPolicy(max_retries=2)
    safe, unsafe = _statement(True), _statement(False)
    assert policy.on_write_timeout(safe, ONE, WriteType.SIMPLE, 1, 0, retry_num=0) == (RetryPolicy.RETRY, ONE)
    assert policy.on_write_timeout(safe, ONE, WriteType.SIMPLE, 1, 0, retry_num=2)[0] == RetryPolicy.RETHROW
    assert policy.on_write_timeout(unsafe, ONE, WriteType.SIMPLE, 1, 0, retry_num=0)[0] == RetryPolicy.RETHROW
    # A Paxos round that timed out is in an unknown state: the client's idempotency key resolves it.
    assert policy.on_write_timeout(safe, ONE, WriteType.CAS, 1, 0, retry_num=0)[0] == RetryPolicy.RETHROW
    assert policy.on_write_timeout(safe, ONE, WriteType.COUNTER, 1, 0, retry_num=0)[0] == RetryPolicy.RETHROW


def test_unavailable_and_request_errors_try_the_next_host_within_the_bound() -> None:
    policy = BoundedRetryPolicy(max_retries=1)
    safe, unsafe = _statement(True), _statement(False)
    error = ConnectionError("reset")
    assert policy.on_unavailable(safe, ONE, 1, 0, retry_num=0) == (RetryPolicy.RETRY_NEXT_HOST, None)
    assert policy.on_unavailable(safe, ONE, 1, 0, retry_num=1) == (RetryPolicy.RETHROW, None)
    assert policy.on_request_error(safe, ONE, error, retry_num=0) == (RetryPolicy.RETRY_NEXT_HOST, None)
    assert policy.on_request_error(unsafe, ONE, error, retry_num=0) == (RetryPolicy.RETHROW, None)
    assert BoundedRetryPolicy(max_retries=0).on_request_error(safe, ONE, error, 0)[0] == RetryPolicy.RETHROW


# -- error mapping ----------------------------------------------------------------------------------------


def test_timeouts_become_a_clean_503() -> None:
    for exc in (
        cassandra.OperationTimedOut(last_host="cassandra-proxy:29042"),
        cassandra.ReadTimeout("read", consistency=ONE, required_responses=1, received_responses=0),
        cassandra.WriteTimeout(
            "write", consistency=ONE, required_responses=1, received_responses=0, write_type=WriteType.SIMPLE
        ),
    ):
        mapped = map_error(exc, timeout=1.0)
        assert isinstance(mapped, MessageStoreUnavailable)
        assert (mapped.status, mapped.code) == (503, "message_store_timeout")
        assert "longer than 1.0s" in mapped.message


def test_an_unreachable_cluster_is_a_503_and_a_bad_query_is_a_bug() -> None:
    down = map_error(NoHostAvailable("no host", {"127.0.0.1:9042": ConnectionRefusedError()}), timeout=None)
    assert down is not None and (down.status, down.code) == (503, "message_store_unavailable")
    replicas_down = cassandra.Unavailable("x", consistency=ONE, required_replicas=1, alive_replicas=0)
    unavailable = map_error(replicas_down, timeout=None)
    assert unavailable is not None and unavailable.status == 503
    assert map_error(cassandra.InvalidRequest("unconfigured table"), timeout=1.0) is None


# -- configuration and wiring -------------------------------------------------------------------------------


def _settings(profile: str) -> Settings:
    return Settings.from_env({"SC_PROFILE": profile, "SC_STORE_TIMEOUT": "0.75", "SC_MIGRATE_TIMEOUT": "4"})


def test_config_from_environment_follows_the_store_timeouts_switch() -> None:
    env = {"SC_CASSANDRA_HOSTS": "cassandra-proxy, other", "SC_CASSANDRA_PORT": "29042"}
    hardened = CassandraConfig.from_env(_settings("hardened"), env)
    assert hardened.hosts == ("cassandra-proxy", "other") and hardened.port == 29042
    assert hardened.query_timeout == 0.75 and hardened.startup_timeout == 4.0
    assert CassandraConfig.from_env(_settings("baseline"), env).query_timeout is None
    with pytest.raises(ValueError, match="SC_CASSANDRA_PORT"):
        CassandraConfig.from_env(_settings("hardened"), {"SC_CASSANDRA_PORT": "nine"})


def test_chat_picks_its_message_store_from_configuration() -> None:
    settings = _settings("hardened")
    metrics = ServiceMetrics("chat")
    chosen = message_backend(settings, metrics, {"SC_MESSAGE_STORE": "cassandra", "SC_CASSANDRA_HOSTS": "c1"})
    assert isinstance(chosen.store, CassandraMessageStore) and chosen.store.config.hosts == ("c1",)
    assert isinstance(message_backend(settings, metrics, {}).store, PostgresMessageStore)
    with pytest.raises(ValueError, match="SC_MESSAGE_STORE='mongo'"):
        message_backend(settings, metrics, {"SC_MESSAGE_STORE": "mongo"})


# -- against a server that accepts connections and never answers ---------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # the kernel completes the handshakes; nothing ever reads or answers
        yield sock.getsockname()[1]


async def test_a_store_that_never_answers_fails_start_with_a_503_in_bounded_time(silent_server: int) -> None:
    config = CassandraConfig(
        hosts=("127.0.0.1",), port=silent_server, connect_timeout=0.3, query_timeout=0.3, startup_timeout=1.0
    )
    store = CassandraMessageStore(config, ServiceMetrics("chat"))
    started = time.monotonic()
    with pytest.raises(MessageStoreUnavailable, match="schema setup failed"):
        await store.start()
    assert time.monotonic() - started < 10
    await store.close()


async def test_calls_before_start_are_refused_and_counted() -> None:
    metrics = ServiceMetrics("chat")
    store = CassandraMessageStore(CassandraConfig(), metrics)
    with pytest.raises(MessageStoreUnavailable, match="not connected"):
        await store.ready()
    value = metrics.registry.get_sample_value(
        "db_unavailable_total", {"service": "chat", "store": "cassandra"}
    )
    assert value == 1.0
