"""The chat service's data: request bodies as validated models, stored records as frozen dataclasses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from target_system.common.text import MultiLine, OneLine

MAX_BODY_CHARS = 4000
MAX_ID_CHARS = 200  # user ids, idempotency keys, vote ids

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), OneLine]


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class _Strict(BaseModel):
    # Wrong types must be refused (4xx), not coerced: "1" is not an option index.
    model_config = ConfigDict(strict=True, extra="ignore")


class ConversationIn(_Strict):
    members: list[Id] = Field(min_length=1, max_length=500)
    title: Annotated[str, StringConstraints(max_length=200), OneLine] | None = None
    kind: ConversationKind = Field(default=ConversationKind.GROUP, strict=False)  # enums arrive as text


class MessageIn(_Strict):
    # The upper bound is checked by the route, because an oversize body is a 413, not a 422.
    body: Annotated[str, StringConstraints(min_length=1), MultiLine]
    idempotency_key: Id


class PollIn(_Strict):
    question: Annotated[str, StringConstraints(min_length=1, max_length=500), MultiLine]
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200), OneLine]] = Field(
        min_length=2, max_length=10
    )


class VoteIn(_Strict):
    option: int = Field(ge=0)
    vote_id: Id


@dataclass(frozen=True, slots=True)
class Conversation:
    id: uuid.UUID
    kind: ConversationKind
    title: str | None
    members: tuple[str, ...]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind.value,
            "title": self.title,
            "members": list(self.members),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Message:
    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: str
    body: str
    idempotency_key: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id),
            "sender_id": self.sender_id,
            "body": self.body,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Newest first; `next_cursor` is the id to pass as `before` for the next (older) page."""

    messages: tuple[Message, ...]
    next_cursor: str | None

    @classmethod
    def first(cls, newest_first: Sequence[Message], limit: int) -> HistoryPage:
        """The first `limit` of `newest_first` (fetched with one extra to learn whether an older page
        exists), with a cursor only when there is one."""
        messages = tuple(newest_first[:limit])
        more = len(newest_first) > limit and bool(messages)
        return cls(messages=messages, next_cursor=str(messages[-1].id) if more else None)

    def to_json(self) -> dict[str, Any]:
        return {"messages": [m.to_json() for m in self.messages], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class Poll:
    id: uuid.UUID
    conversation_id: uuid.UUID
    creator_id: str
    question: str
    options: tuple[str, ...]
    created_at: datetime
    tally: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "conversation_id": str(self.conversation_id),
            "creator_id": self.creator_id,
            "question": self.question,
            "options": list(self.options),
            "created_at": self.created_at.isoformat(),
            "tally": list(self.tally),
            "total_votes": sum(self.tally),
        }


@dataclass(frozen=True, slots=True)
class Vote:
    poll_id: uuid.UUID
    user_id: str
    option: int
    vote_id: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "poll_id": str(self.poll_id),
            "user_id": self.user_id,
            "option": self.option,
            "vote_id": self.vote_id,
            "created_at": self.created_at.isoformat(),
        }
