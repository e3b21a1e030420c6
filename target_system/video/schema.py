"""The video service's SQL schema (calls and their participants), within what CockroachDB accepts."""

from __future__ import annotations

# No SERIAL, no PL/pgSQL: ids are UUIDs made in Python and every statement is idempotent.
VIDEO_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS video_calls (
        id UUID PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        created_by TEXT NOT NULL,
        client_call_id TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        ended_at TIMESTAMPTZ,
        end_reason TEXT
    )
    """,
    # NULLs never collide in a unique index (both servers), so calls without a client id are free.
    "CREATE UNIQUE INDEX IF NOT EXISTS video_calls_by_client_id ON video_calls (created_by, client_call_id)",
    "CREATE INDEX IF NOT EXISTS video_calls_by_status ON video_calls (status, updated_at)",
    """
    CREATE TABLE IF NOT EXISTS video_participants (
        call_id UUID NOT NULL,
        user_id TEXT NOT NULL,
        state TEXT NOT NULL,
        joined_at TIMESTAMPTZ,
        left_at TIMESTAMPTZ,
        PRIMARY KEY (call_id, user_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS video_participants_by_user ON video_participants (user_id, call_id)",
)
