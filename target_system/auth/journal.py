"""Revocations auth made while Redis was down, kept in SQL until they are written back to Redis.

With REDIS_FALLBACK a logout during a Redis outage lives in auth's memory until Redis answers again;
a restart of auth in between would forget it, and the token (and the session's refresh token) would
work again once Redis is back. So each such revocation is also written here; auth reloads the rows at
startup and deletes each one once Redis has it. Best effort: the SQL store may be down too, and then
the revocation is held in memory only (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from target_system.common.errors import ServiceError
from target_system.common.revocations import RevocationKind
from target_system.common.sql import SqlStore

log = logging.getLogger(__name__)

JOURNAL_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS auth_pending_revocations (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        until TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, id)
    )
    """,
)


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    kind: RevocationKind
    ident: str
    until: float  # epoch seconds: past it, Redis need not be told any more


class RevocationJournal:
    """The `auth_pending_revocations` table."""

    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def record(self, kind: RevocationKind, ident: str, until: float) -> None:
        try:
            await self._sql.execute(
                "INSERT INTO auth_pending_revocations (kind, id, until) VALUES ($1, $2, $3) "
                "ON CONFLICT (kind, id) DO UPDATE SET until = excluded.until",
                kind.value, ident, datetime.fromtimestamp(until, UTC),
            )  # fmt: skip
        except ServiceError as exc:
            log.warning("revocation of %s %s kept in memory only: %s", kind.value, ident, exc.message)

    async def pending(self) -> list[PendingRevocation]:
        """Every revocation still to write back (expired rows are deleted on the way)."""
        await self._sql.execute("DELETE FROM auth_pending_revocations WHERE until <= now()")
        rows = await self._sql.fetch("SELECT kind, id, until FROM auth_pending_revocations")
        return [PendingRevocation(RevocationKind(r["kind"]), r["id"], r["until"].timestamp()) for r in rows]

    async def forget(self, kind: RevocationKind, ident: str) -> None:
        """Redis has it now; a failure only means a harmless second write-back after a restart."""
        try:
            await self._sql.execute(
                "DELETE FROM auth_pending_revocations WHERE kind = $1 AND id = $2", kind.value, ident
            )
        except ServiceError as exc:
            log.info("journal entry %s %s not deleted: %s", kind.value, ident, exc.message)
