"""Polls in a conversation and their votes, in SQL: one vote per user per poll, idempotent on `vote_id`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from target_system.chat.models import Poll, PollIn, Vote, VoteIn
from target_system.chat.queryable import Queryable
from target_system.common.errors import BadRequest, Conflict, NotFound


@dataclass(frozen=True, slots=True)
class Cast:
    """The outcome of a vote request: the stored vote and whether this request created it."""

    vote: Vote
    created: bool


def _row_to_vote(row: Any) -> Vote:
    return Vote(
        poll_id=row["poll_id"],
        user_id=row["user_id"],
        option=row["option_index"],
        vote_id=row["vote_id"],
        created_at=row["created_at"],
    )


class Polls:
    """The poll repository. Membership is checked by the caller (it knows the conversation)."""

    def __init__(self, db: Queryable) -> None:
        self._db = db

    async def create(self, conversation_id: uuid.UUID, creator_id: str, request: PollIn) -> Poll:
        options = tuple(o.strip() for o in request.options)
        if any(not o for o in options):
            raise BadRequest("poll options must not be empty")
        poll = Poll(
            id=uuid.uuid4(),
            conversation_id=conversation_id,
            creator_id=creator_id,
            question=request.question,
            options=options,
            created_at=datetime.now(UTC),
            tally=tuple(0 for _ in options),
        )
        await self._db.execute(
            "INSERT INTO chat_polls (id, conversation_id, creator_id, question, options, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            poll.id, conversation_id, creator_id, poll.question, list(options), poll.created_at,
        )  # fmt: skip
        return poll

    async def get(self, poll_id: uuid.UUID) -> Poll:
        row = await self._db.fetchrow(
            "SELECT id, conversation_id, creator_id, question, options, created_at "
            "FROM chat_polls WHERE id = $1",
            poll_id,
        )
        if row is None:
            raise NotFound("no such poll")
        counts = await self._db.fetch(
            "SELECT option_index, count(*) AS votes FROM chat_poll_votes "
            "WHERE poll_id = $1 GROUP BY option_index",
            poll_id,
        )
        options = tuple(row["options"])
        tally = [0] * len(options)
        for count in counts:
            if 0 <= count["option_index"] < len(tally):
                tally[count["option_index"]] = int(count["votes"])
        return Poll(
            id=row["id"],
            conversation_id=row["conversation_id"],
            creator_id=row["creator_id"],
            question=row["question"],
            options=options,
            created_at=row["created_at"],
            tally=tuple(tally),
        )

    async def vote(self, poll: Poll, user_id: str, request: VoteIn) -> Cast:
        if request.option >= len(poll.options):
            raise BadRequest(f"option must be an index from 0 to {len(poll.options) - 1}")
        row = await self._db.fetchrow(
            "INSERT INTO chat_poll_votes (poll_id, user_id, option_index, vote_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (poll_id, user_id) DO NOTHING "
            "RETURNING poll_id, user_id, option_index, vote_id, created_at",
            poll.id, user_id, request.option, request.vote_id, datetime.now(UTC),
        )  # fmt: skip
        if row is not None:
            return Cast(_row_to_vote(row), created=True)
        existing = await self._db.fetchrow(
            "SELECT poll_id, user_id, option_index, vote_id, created_at FROM chat_poll_votes "
            "WHERE poll_id = $1 AND user_id = $2",
            poll.id, user_id,
        )  # fmt: skip
        if existing is None:  # nothing deletes votes: a conflict without a row is a store fault
            raise RuntimeError("vote conflict without a stored vote")
        vote = _row_to_vote(existing)
        if vote.vote_id != request.vote_id:
            raise Conflict("you already voted in this poll")
        return Cast(vote, created=False)
