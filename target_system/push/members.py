"""Who is in a conversation: read-only from chat's `chat_members` table (chat's events do not carry it)."""

from __future__ import annotations

import uuid

from target_system.common.sql import SqlStore


class ConversationMembers:
    """Member lookups; SQL errors surface as `SqlUnavailable` (the notification is then counted failed)."""

    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def of(self, conversation_id: uuid.UUID) -> list[str]:
        rows = await self._sql.fetch(
            "SELECT user_id FROM chat_members WHERE conversation_id = $1 ORDER BY user_id", conversation_id
        )
        return [str(row["user_id"]) for row in rows]
