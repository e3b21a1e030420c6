"""Calls and their participants in SQL: create (idempotent by client id), join, leave, end stale ones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from target_system.common.errors import BadRequest, Conflict, Forbidden, NotFound
from target_system.common.sql import SqlConnection, SqlStore
from target_system.video.models import (
    Call,
    CallIn,
    CallKind,
    CallStatus,
    Participant,
    ParticipantState,
)
from target_system.video.transactions import bounded_transaction

_CALL_COLUMNS = "id, kind, status, created_by, client_call_id, created_at, updated_at, ended_at, end_reason"
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class Created:
    call: Call
    created: bool  # False: a retry that found the call the first attempt made


def _participants_of(request: CallIn, caller: str) -> list[str]:
    # The caller is always a participant; order kept, duplicates dropped.
    users = list(dict.fromkeys([caller, *(u.strip() for u in request.participants)]))
    if any(not u for u in users):
        raise BadRequest("participant ids must not be empty")
    if request.kind is CallKind.DIRECT and len(users) != 2:
        raise BadRequest("a direct call has exactly one other participant")
    if len(users) < 2:
        raise BadRequest("a call needs at least one other participant")
    return users


def _call(row: Any, participants: Sequence[Any]) -> Call:
    return Call(
        id=row["id"],
        kind=CallKind(row["kind"]),
        status=CallStatus(row["status"]),
        created_by=row["created_by"],
        client_call_id=row["client_call_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        participants=tuple(
            Participant(p["user_id"], ParticipantState(p["state"]))
            for p in sorted(participants, key=lambda p: str(p["user_id"]))
        ),
    )


class Calls:
    """The call repository; every state change runs in one transaction with the call row locked."""

    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def create(self, request: CallIn, caller: str) -> Created:
        users = _participants_of(request, caller)
        now = datetime.now(UTC)
        call_id = uuid.uuid4()
        async with bounded_transaction(self._sql) as tx:
            inserted = await tx.fetchval(
                "INSERT INTO video_calls "
                "(id, kind, status, created_by, client_call_id, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $6) "
                "ON CONFLICT (created_by, client_call_id) DO NOTHING RETURNING id",
                call_id, request.kind.value, CallStatus.RINGING.value, caller, request.client_call_id, now,
            )  # fmt: skip
            if inserted is None:
                existing = await tx.fetchval(
                    "SELECT id FROM video_calls WHERE created_by = $1 AND client_call_id = $2",
                    caller, request.client_call_id,
                )  # fmt: skip
                return Created(await self._read(tx, existing), created=False)
            # The caller starts the call already in it; everyone else is rung.
            joined, invited = ParticipantState.JOINED.value, ParticipantState.INVITED.value
            states = [joined if u == caller else invited for u in users]
            await tx.execute(
                "INSERT INTO video_participants (call_id, user_id, state, joined_at) "
                "SELECT $1, u.user_id, u.state, CASE WHEN u.state = 'joined' THEN $4::TIMESTAMPTZ END "
                "FROM unnest($2::TEXT[], $3::TEXT[]) AS u (user_id, state)",
                call_id, users, states, now,
            )  # fmt: skip
            return Created(await self._read(tx, call_id), created=True)

    async def get(self, call_id: uuid.UUID) -> Call:
        async with self._sql.connection() as conn:
            return await self._read(conn, call_id)

    async def get_for(self, call_id: uuid.UUID, user_id: str) -> Call:
        """The call if `user_id` takes part in it; 404 or 403 otherwise."""
        call = await self.get(call_id)
        if not call.is_participant(user_id):
            raise Forbidden("you are not a participant of this call")
        return call

    async def by_client_ids(self, caller: str, client_ids: Sequence[str]) -> list[Call]:
        """The caller's calls whose client ids are among `client_ids` (how a client reads back its writes)."""
        async with self._sql.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_CALL_COLUMNS} FROM video_calls "
                "WHERE created_by = $1 AND client_call_id = ANY($2::TEXT[])",
                caller, list(client_ids),
            )  # fmt: skip
            return await self._with_participants(conn, rows)

    async def mine(self, user_id: str) -> list[Call]:
        async with self._sql.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {', '.join('c.' + c.strip() for c in _CALL_COLUMNS.split(','))} "
                "FROM video_participants p JOIN video_calls c ON c.id = p.call_id "
                "WHERE p.user_id = $1 ORDER BY c.created_at DESC LIMIT $2",
                user_id, MAX_LISTED,
            )  # fmt: skip
            return await self._with_participants(conn, rows)

    async def join(self, call_id: uuid.UUID, user_id: str) -> Call:
        now = datetime.now(UTC)
        async with bounded_transaction(self._sql) as tx:
            call = await self._locked_for(tx, call_id, user_id)
            if call.status is CallStatus.ENDED:
                raise Conflict("the call has ended", code="call_ended")
            await tx.execute(
                "UPDATE video_participants SET state = 'joined', joined_at = $3, left_at = NULL "
                "WHERE call_id = $1 AND user_id = $2",
                call_id, user_id, now,
            )  # fmt: skip
            joined = await self._joined_count(tx, call_id)
            if call.status is CallStatus.RINGING and joined >= 2:
                await tx.execute(
                    "UPDATE video_calls SET status = 'active', updated_at = $2 WHERE id = $1", call_id, now
                )
            return await self._read(tx, call_id)

    async def leave(self, call_id: uuid.UUID, user_id: str) -> Call:
        """Leave (or decline) a call; the call ends when nobody is left in it."""
        now = datetime.now(UTC)
        async with bounded_transaction(self._sql) as tx:
            call = await self._locked_for(tx, call_id, user_id)
            if call.status is CallStatus.ENDED:
                return call
            await tx.execute(
                "UPDATE video_participants SET state = 'left', left_at = $3 "
                "WHERE call_id = $1 AND user_id = $2",
                call_id, user_id, now,
            )  # fmt: skip
            if await self._joined_count(tx, call_id) == 0:
                await tx.execute(
                    "UPDATE video_calls SET status = 'ended', updated_at = $2, ended_at = $2, "
                    "end_reason = 'last_participant_left' WHERE id = $1",
                    call_id, now,
                )  # fmt: skip
            return await self._read(tx, call_id)

    async def end_stale(self, *, ringing_for: float, active_for: float, limit: int = 500) -> list[Call]:
        """End calls ringing longer than `ringing_for` or active longer than `active_for` seconds."""
        now = datetime.now(UTC)
        async with bounded_transaction(self._sql) as tx:
            rows = await tx.fetch(
                "UPDATE video_calls "
                "SET status = 'ended', updated_at = $3, ended_at = $3, end_reason = 'stale' "
                "WHERE id IN (SELECT id FROM video_calls "
                "  WHERE (status = 'ringing' AND updated_at < $1) OR (status = 'active' AND updated_at < $2) "
                "  LIMIT $4) "
                f"RETURNING {_CALL_COLUMNS}",
                now - timedelta(seconds=ringing_for), now - timedelta(seconds=active_for), now, limit,
            )  # fmt: skip
            if rows:
                await tx.execute(
                    "UPDATE video_participants SET state = 'left', left_at = $2 "
                    "WHERE call_id = ANY($1::UUID[]) AND state != 'left'",
                    [r["id"] for r in rows], now,
                )  # fmt: skip
            return await self._with_participants(tx, rows)

    # -- helpers -----------------------------------------------------------------------------------

    async def _locked_for(self, tx: SqlConnection, call_id: uuid.UUID, user_id: str) -> Call:
        row = await tx.fetchrow(f"SELECT {_CALL_COLUMNS} FROM video_calls WHERE id = $1 FOR UPDATE", call_id)
        if row is None:
            raise NotFound("no such call")
        call = _call(row, await self._participant_rows(tx, [call_id]))
        if not call.is_participant(user_id):
            raise Forbidden("you are not a participant of this call")
        return call

    @staticmethod
    async def _joined_count(tx: SqlConnection, call_id: uuid.UUID) -> int:
        count = await tx.fetchval(
            "SELECT count(*) FROM video_participants WHERE call_id = $1 AND state = 'joined'", call_id
        )
        return int(count)

    @staticmethod
    async def _participant_rows(conn: SqlConnection, call_ids: Sequence[uuid.UUID]) -> list[Any]:
        return await conn.fetch(
            "SELECT call_id, user_id, state FROM video_participants WHERE call_id = ANY($1::UUID[])",
            list(call_ids),
        )

    async def _read(self, conn: SqlConnection, call_id: uuid.UUID) -> Call:
        row = await conn.fetchrow(f"SELECT {_CALL_COLUMNS} FROM video_calls WHERE id = $1", call_id)
        if row is None:
            raise NotFound("no such call")
        return _call(row, await self._participant_rows(conn, [call_id]))

    async def _with_participants(self, conn: SqlConnection, rows: Sequence[Any]) -> list[Call]:
        if not rows:
            return []
        by_call: dict[uuid.UUID, list[Any]] = {}
        for p in await self._participant_rows(conn, [r["id"] for r in rows]):
            by_call.setdefault(p["call_id"], []).append(p)
        return [_call(r, by_call.get(r["id"], [])) for r in rows]
