"""The video service's data: request bodies as validated models, calls as frozen dataclasses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from target_system.common.text import OneLine

MAX_PARTICIPANTS = 32
MAX_CLIENT_IDS = 200
MAX_ID_CHARS = 200

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), OneLine]


class CallKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class CallStatus(StrEnum):
    RINGING = "ringing"  # created; fewer than two participants have joined
    ACTIVE = "active"  # two or more participants joined
    ENDED = "ended"  # the last participant left, or cleanup ended it


class ParticipantState(StrEnum):
    INVITED = "invited"
    JOINED = "joined"
    LEFT = "left"


class SignalKind(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"
    ICE = "ice"


class CallIn(BaseModel):
    # Wrong types must be refused (4xx), not coerced.
    model_config = ConfigDict(strict=True, extra="ignore")

    participants: list[Id] = Field(min_length=1, max_length=MAX_PARTICIPANTS)
    kind: CallKind = Field(default=CallKind.DIRECT, strict=False)  # enums arrive as text
    # Chosen by the client so a retried create returns the call the first attempt made.
    client_call_id: Id | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    user_id: str
    state: ParticipantState

    def to_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "state": self.state.value}


@dataclass(frozen=True, slots=True)
class Call:
    id: uuid.UUID
    kind: CallKind
    status: CallStatus
    created_by: str
    client_call_id: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    participants: tuple[Participant, ...]

    def is_participant(self, user_id: str) -> bool:
        return any(p.user_id == user_id for p in self.participants)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind.value,
            "status": self.status.value,
            "created_by": self.created_by,
            "client_call_id": self.client_call_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "end_reason": self.end_reason,
            "participants": [p.to_json() for p in self.participants],
        }
