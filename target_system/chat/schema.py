"""The chat service's SQL schema (conversations, members, polls, votes), within what CockroachDB accepts."""

from __future__ import annotations

# No SERIAL, no PL/pgSQL: ids are UUIDs made in Python and every statement is idempotent.
CHAT_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS chat_conversations (
        id UUID PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS chat_members (
        conversation_id UUID NOT NULL,
        user_id TEXT NOT NULL,
        joined_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (conversation_id, user_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS chat_members_by_user ON chat_members (user_id, conversation_id)",
    """
    CREATE TABLE IF NOT EXISTS chat_polls (
        id UUID PRIMARY KEY,
        conversation_id UUID NOT NULL,
        creator_id TEXT NOT NULL,
        question TEXT NOT NULL,
        options TEXT[] NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS chat_poll_votes (
        poll_id UUID NOT NULL,
        user_id TEXT NOT NULL,
        option_index INT NOT NULL,
        vote_id TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (poll_id, user_id)
    )
    """,
)
