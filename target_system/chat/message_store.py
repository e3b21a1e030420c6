"""The message store: a small interface and its PostgreSQL implementation, modelled on a Cassandra table.

Data model (the same in Cassandra, where it will be CQL):

    messages_by_conversation
      conversation_id   partition key       -- one conversation's messages live together
      message_id        clustering DESC     -- a UUIDv7, so newest-first paging is a range scan
      sender_id, body, idempotency_key, created_at
    unique (conversation_id, idempotency_key)

In Cassandra the uniqueness becomes a second table keyed (conversation_id, idempotency_key)
written with `INSERT ... IF NOT EXISTS` before the message row; here one unique index does it.
Nothing outside one partition is ever queried, so the Cassandra implementation is a port, not a redesign.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from target_system.chat.ids import id_time, new_message_id
from target_system.chat.models import HistoryPage, Message
from target_system.chat.queryable import Queryable

MESSAGE_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS messages_by_conversation (
        conversation_id UUID NOT NULL,
        message_id UUID NOT NULL,
        sender_id TEXT NOT NULL,
        body TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (conversation_id, message_id)
    )
    """,
    """
    CREATE UNIQUE INDEX IF NOT EXISTS messages_by_idempotency_key
        ON messages_by_conversation (conversation_id, idempotency_key)
    """,
)

_COLUMNS = "conversation_id, message_id, sender_id, body, idempotency_key, created_at"


@dataclass(frozen=True, slots=True)
class Appended:
    """What `append` stored: the message, and whether this call created it (False: an idempotent retry)."""

    message: Message
    created: bool


class MessageStore(Protocol):
    """Where messages live. Every method may raise on a store failure; callers decide how to degrade."""

    async def append(
        self,
        conversation_id: uuid.UUID,
        sender_id: str,
        body: str,
        idempotency_key: str,
        *,
        message_id: uuid.UUID | None = None,
    ) -> Appended:
        """Store a message under `message_id` (a fresh one when None: a write-behind brings the id it
        already answered with); a retry of the same idempotency key gets the stored message back."""
        ...

    async def history(
        self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> HistoryPage: ...

    async def after(
        self, conversation_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[Message]:
        """Messages newer than `after`, oldest first (the polling fallback); without `after`, the latest."""
        ...

    async def ready(self) -> None: ...


def _row_to_message(row: Any) -> Message:
    return Message(
        id=row["message_id"],
        conversation_id=row["conversation_id"],
        sender_id=row["sender_id"],
        body=row["body"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
    )


class PostgresMessageStore:
    """The message store on PostgreSQL (the local stand-in for Cassandra)."""

    def __init__(self, db: Queryable) -> None:
        self._db = db

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
        # One round trip in the common case: the insert returns the row, or nothing on a retry.
        row = await self._db.fetchrow(
            f"INSERT INTO messages_by_conversation ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "
            f"ON CONFLICT (conversation_id, idempotency_key) DO NOTHING RETURNING {_COLUMNS}",
            conversation_id, message_id, sender_id, body, idempotency_key, id_time(message_id),
        )  # fmt: skip
        if row is not None:
            return Appended(_row_to_message(row), created=True)
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM messages_by_conversation "
            "WHERE conversation_id = $1 AND idempotency_key = $2",
            conversation_id, idempotency_key,
        )  # fmt: skip
        if row is None:  # the conflicting row vanished: nothing deletes messages, so this is a store fault
            raise RuntimeError("idempotency conflict without a stored message")
        return Appended(_row_to_message(row), created=False)

    async def history(
        self, conversation_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> HistoryPage:
        # limit + 1 tells whether an older page exists without a second query.
        if before is None:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM messages_by_conversation WHERE conversation_id = $1 "
                "ORDER BY message_id DESC LIMIT $2",
                conversation_id, limit + 1,
            )  # fmt: skip
        else:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM messages_by_conversation "
                "WHERE conversation_id = $1 AND message_id < $2 ORDER BY message_id DESC LIMIT $3",
                conversation_id, before, limit + 1,
            )  # fmt: skip
        return HistoryPage.first([_row_to_message(r) for r in rows], limit)

    async def after(
        self, conversation_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[Message]:
        if after is None:
            page = await self.history(conversation_id, before=None, limit=limit)
            return list(reversed(page.messages))
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM messages_by_conversation "
            "WHERE conversation_id = $1 AND message_id > $2 ORDER BY message_id ASC LIMIT $3",
            conversation_id, after, limit,
        )  # fmt: skip
        return [_row_to_message(r) for r in rows]

    async def ready(self) -> None:
        await self._db.fetchrow("SELECT 1")
