"""Auth's SQL schema: users, email-verification and password-reset tokens (PostgreSQL, CockroachDB)."""

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
    # Holds the digest of the secret mailed to the user, never the secret; cleanup drops expired rows.
    """
    CREATE TABLE IF NOT EXISTS password_reset_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX IF NOT EXISTS password_reset_tokens_expiry ON password_reset_tokens (expires_at)",
)
