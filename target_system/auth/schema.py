"""The auth service's SQL schema: users and email-verification tokens (PostgreSQL and CockroachDB alike)."""

from __future__ import annotations

# Ids are UUIDs made in Python; no SERIAL, no PL/pgSQL; every statement is idempotent.
AUTH_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS users (
        id UUID PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        email_verified BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS email_verification_tokens (
        token TEXT PRIMARY KEY,
        user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX IF NOT EXISTS email_verification_tokens_expiry ON email_verification_tokens (expires_at)",
    "CREATE INDEX IF NOT EXISTS email_verification_tokens_user ON email_verification_tokens (user_id)",
)
