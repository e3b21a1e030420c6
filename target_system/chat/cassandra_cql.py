"""The CQL statements of the Cassandra message store, as data: their text and bind values can be checked
without a cluster (see cassandra_store.py for the data model and why the idempotency key has a table)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from target_system.chat.models import Message

KEYSPACE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")  # it is written into CQL text, so checked once
_COLUMNS = "conversation_id, message_id, sender_id, body, idempotency_key, created_at"


@dataclass(frozen=True, slots=True)
class Cql:
    """One statement to run: its text (prepared once), its bind values, and whether a retry is safe."""

    text: str
    values: tuple[Any, ...]
    idempotent: bool


class MessageCql:
    """Every CQL statement the store runs, as data (so its text and bind values can be checked alone)."""

    def __init__(self, keyspace: str, *, replication_factor: int = 1) -> None:
        if not KEYSPACE_NAME.match(keyspace):
            raise ValueError(f"{keyspace!r} is not a valid keyspace name")
        self.keyspace = keyspace
        self.replication_factor = replication_factor
        self.messages = f"{keyspace}.messages_by_conversation"
        self.keys = f"{keyspace}.messages_by_idempotency_key"

    def schema(self) -> tuple[str, ...]:
        """Idempotent DDL, run at start."""
        return (
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            f"{{'class': 'SimpleStrategy', 'replication_factor': {self.replication_factor}}}",
            # uuid, not timeuuid (which demands version 1): Cassandra orders non-v1 uuids by their
            # unsigned bytes, and a UUIDv7 starts with its millisecond time, so this is time order.
            f"CREATE TABLE IF NOT EXISTS {self.messages} ("
            "conversation_id uuid, message_id uuid, sender_id text, body text, idempotency_key text, "
            "created_at timestamp, PRIMARY KEY ((conversation_id), message_id)"
            ") WITH CLUSTERING ORDER BY (message_id DESC)",
            f"CREATE TABLE IF NOT EXISTS {self.keys} ("
            "conversation_id uuid, idempotency_key text, message_id uuid, "
            "PRIMARY KEY ((conversation_id, idempotency_key)))",
        )

    def claim(self, conversation_id: uuid.UUID, idempotency_key: str, message_id: uuid.UUID) -> Cql:
        # A retry of the claim is safe: re-sent after an unknown outcome it answers "not applied" with
        # our own message id, which `append` recognises as its own claim.
        return Cql(
            f"INSERT INTO {self.keys} (conversation_id, idempotency_key, message_id) VALUES (?, ?, ?) "
            "IF NOT EXISTS",
            (conversation_id, idempotency_key, message_id),
            idempotent=True,
        )

    def insert(self, message: Message) -> Cql:
        return Cql(
            f"INSERT INTO {self.messages} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                message.conversation_id,
                message.id,
                message.sender_id,
                message.body,
                message.idempotency_key,
                message.created_at,
            ),
            idempotent=True,  # an upsert of a fixed key: writing it twice stores it once
        )

    def select_one(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> Cql:
        return Cql(
            f"SELECT {_COLUMNS} FROM {self.messages} WHERE conversation_id = ? AND message_id = ?",
            (conversation_id, message_id),
            idempotent=True,
        )

    def newest(self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int) -> Cql:
        """Newest first: the clustering order itself, so no ORDER BY is needed."""
        if before is None:
            return Cql(
                f"SELECT {_COLUMNS} FROM {self.messages} WHERE conversation_id = ? LIMIT ?",
                (conversation_id, limit),
                idempotent=True,
            )
        return Cql(
            f"SELECT {_COLUMNS} FROM {self.messages} WHERE conversation_id = ? AND message_id < ? LIMIT ?",
            (conversation_id, before, limit),
            idempotent=True,
        )

    def newer(self, conversation_id: uuid.UUID, *, after: uuid.UUID, limit: int) -> Cql:
        """Oldest first after `after`: the clustering order reversed, still one partition range."""
        return Cql(
            f"SELECT {_COLUMNS} FROM {self.messages} WHERE conversation_id = ? AND message_id > ? "
            "ORDER BY message_id ASC LIMIT ?",
            (conversation_id, after, limit),
            idempotent=True,
        )

    def ping(self) -> Cql:
        return Cql("SELECT release_version FROM system.local", (), idempotent=True)

    def statements(self) -> tuple[str, ...]:
        """Every text to prepare at start (the values here are placeholders)."""
        zero = uuid.UUID(int=0)
        sample = Message(zero, zero, "", "", "", datetime.fromtimestamp(0, tz=UTC))
        return tuple(
            cql.text
            for cql in (
                self.claim(zero, "", zero),
                self.insert(sample),
                self.select_one(zero, zero),
                self.newest(zero, before=None, limit=1),
                self.newest(zero, before=zero, limit=1),
                self.newer(zero, after=zero, limit=1),
                self.ping(),
            )
        )
