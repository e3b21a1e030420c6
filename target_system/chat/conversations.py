"""Conversations and their members in SQL, with the membership check every chat request makes."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from target_system.chat.models import Conversation, ConversationIn, ConversationKind
from target_system.chat.queryable import Queryable
from target_system.common.errors import BadRequest, Forbidden, NotFound

MAX_LISTED = 200


class Access(Enum):
    MEMBER = "member"
    NOT_MEMBER = "not_member"
    NO_SUCH_CONVERSATION = "no_such_conversation"


class MembershipCache:
    """Positive membership answers, remembered briefly so the send path makes one SQL call less.

    Only "is a member" is cached: members never leave a conversation in this service, so a
    cached yes cannot go stale in a harmful way, while a no must be rechecked (they may be added).
    """

    def __init__(self, *, ttl: float = 30.0, max_entries: int = 100_000) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._until: OrderedDict[tuple[uuid.UUID, str], float] = OrderedDict()

    def is_member(self, conversation_id: uuid.UUID, user_id: str) -> bool:
        key = (conversation_id, user_id)
        until = self._until.get(key)
        if until is None:
            return False
        if until < time.monotonic():
            del self._until[key]
            return False
        return True

    def remember(self, conversation_id: uuid.UUID, user_id: str) -> None:
        key = (conversation_id, user_id)
        self._until[key] = time.monotonic() + self._ttl
        self._until.move_to_end(key)
        if len(self._until) > self._max_entries:
            self._until.popitem(last=False)


def _members_of(request: ConversationIn, caller: str) -> tuple[str, ...]:
    # The caller is always a member; order kept, duplicates dropped.
    members = tuple(dict.fromkeys([caller, *(m.strip() for m in request.members)]))
    if any(not m for m in members):
        raise BadRequest("member ids must not be empty")
    if request.kind is ConversationKind.DIRECT and len(members) != 2:
        raise BadRequest("a direct conversation has exactly one other member")
    return members


def _row_to_conversation(row: Any) -> Conversation:
    return Conversation(
        id=row["id"],
        kind=ConversationKind(row["kind"]),
        title=row["title"],
        members=tuple(sorted(row["members"])),
        created_at=row["created_at"],
    )


class Conversations:
    """The conversation repository."""

    def __init__(self, db: Queryable, membership: MembershipCache) -> None:
        self._db = db
        self._membership = membership

    async def create(self, request: ConversationIn, caller: str) -> Conversation:
        members = _members_of(request, caller)
        conversation = Conversation(
            id=uuid.uuid4(),
            kind=request.kind,
            title=request.title,
            members=members,
            created_at=datetime.now(UTC),
        )
        # One statement, so the conversation never exists without its members.
        await self._db.execute(
            "WITH c AS (INSERT INTO chat_conversations (id, kind, title, created_by, created_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id) "
            "INSERT INTO chat_members (conversation_id, user_id, joined_at) "
            "SELECT c.id, m, $5 FROM c, unnest($6::TEXT[]) AS m",
            conversation.id, conversation.kind.value, conversation.title, caller,
            conversation.created_at, list(members),
        )  # fmt: skip
        for member in members:
            self._membership.remember(conversation.id, member)
        return conversation

    async def mine(self, user_id: str) -> list[Conversation]:
        rows = await self._db.fetch(
            "SELECT c.id, c.kind, c.title, c.created_at, array_agg(m2.user_id) AS members "
            "FROM chat_members m "
            "JOIN chat_conversations c ON c.id = m.conversation_id "
            "JOIN chat_members m2 ON m2.conversation_id = c.id "
            "WHERE m.user_id = $1 "
            "GROUP BY c.id, c.kind, c.title, c.created_at "
            "ORDER BY c.created_at DESC LIMIT $2",
            user_id, MAX_LISTED,
        )  # fmt: skip
        return [_row_to_conversation(r) for r in rows]

    async def ids_of(self, user_id: str) -> list[uuid.UUID]:
        """Every conversation `user_id` belongs to (what a WebSocket subscribes to)."""
        rows = await self._db.fetch("SELECT conversation_id FROM chat_members WHERE user_id = $1", user_id)
        ids = [r["conversation_id"] for r in rows]
        for conversation_id in ids:
            self._membership.remember(conversation_id, user_id)
        return ids

    async def members(self, conversation_id: uuid.UUID) -> list[str]:
        rows = await self._db.fetch(
            "SELECT user_id FROM chat_members WHERE conversation_id = $1", conversation_id
        )
        return [r["user_id"] for r in rows]

    async def access(self, conversation_id: uuid.UUID, user_id: str) -> Access:
        if self._membership.is_member(conversation_id, user_id):
            return Access.MEMBER
        row = await self._db.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM chat_conversations WHERE id = $1) AS found, "
            "EXISTS (SELECT 1 FROM chat_members WHERE conversation_id = $1 AND user_id = $2) AS member",
            conversation_id, user_id,
        )  # fmt: skip
        if row["member"]:
            self._membership.remember(conversation_id, user_id)
            return Access.MEMBER
        return Access.NOT_MEMBER if row["found"] else Access.NO_SUCH_CONVERSATION

    async def require_member(self, conversation_id: uuid.UUID, user_id: str) -> None:
        """Return if `user_id` may read and write the conversation; 404 or 403 otherwise."""
        access = await self.access(conversation_id, user_id)
        if access is Access.NO_SUCH_CONVERSATION:
            raise NotFound("no such conversation")
        if access is Access.NOT_MEMBER:
            raise Forbidden("you are not a member of this conversation")
