"""The storage service's SQL schema (file metadata), within what CockroachDB accepts."""

from __future__ import annotations

# No SERIAL, no PL/pgSQL: ids are UUIDs made in Python and every statement is idempotent.
STORAGE_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS storage_files (
        id UUID PRIMARY KEY,
        owner_id TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INT8 NOT NULL,
        sha256 TEXT NOT NULL,
        object_key TEXT NOT NULL,
        client_file_id TEXT,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    # NULLs never collide in a unique index (both servers), so files without a client id are free.
    "CREATE UNIQUE INDEX IF NOT EXISTS storage_files_by_client_id "
    "ON storage_files (owner_id, client_file_id)",
    "CREATE INDEX IF NOT EXISTS storage_files_by_owner ON storage_files (owner_id, created_at)",
)
