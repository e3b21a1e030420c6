"""File metadata in SQL: insert (idempotent by the owner's client file id), read, list, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from target_system.common.sql import SqlStore
from target_system.storage.models import StoredFile

_COLUMNS = "id, owner_id, name, content_type, size, sha256, object_key, client_file_id, created_at"
MAX_LISTED = 500


def _file(row: Any) -> StoredFile:
    return StoredFile(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        content_type=row["content_type"],
        size=int(row["size"]),
        sha256=row["sha256"],
        object_key=row["object_key"],
        client_file_id=row["client_file_id"],
        created_at=row["created_at"],
    )


class FileCatalog:
    """The metadata repository; blobs are the object store's business."""

    def __init__(self, sql: SqlStore) -> None:
        self._sql = sql

    async def insert(self, file: StoredFile) -> StoredFile | None:
        """Store `file`; None when the owner already has a file with its client id (a concurrent retry)."""
        row = await self._sql.fetchrow(
            f"INSERT INTO storage_files ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (owner_id, client_file_id) DO NOTHING "
            f"RETURNING {_COLUMNS}",
            file.id, file.owner_id, file.name, file.content_type, file.size, file.sha256,
            file.object_key, file.client_file_id, file.created_at,
        )  # fmt: skip
        return None if row is None else _file(row)

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        row = await self._sql.fetchrow(f"SELECT {_COLUMNS} FROM storage_files WHERE id = $1", file_id)
        return None if row is None else _file(row)

    async def by_client_id(self, owner_id: str, client_file_id: str) -> StoredFile | None:
        row = await self._sql.fetchrow(
            f"SELECT {_COLUMNS} FROM storage_files WHERE owner_id = $1 AND client_file_id = $2",
            owner_id, client_file_id,
        )  # fmt: skip
        return None if row is None else _file(row)

    async def by_client_ids(self, owner_id: str, client_file_ids: Sequence[str]) -> list[StoredFile]:
        rows = await self._sql.fetch(
            f"SELECT {_COLUMNS} FROM storage_files "
            "WHERE owner_id = $1 AND client_file_id = ANY($2::TEXT[]) ORDER BY created_at DESC",
            owner_id, list(client_file_ids),
        )  # fmt: skip
        return [_file(r) for r in rows]

    async def mine(self, owner_id: str) -> list[StoredFile]:
        rows = await self._sql.fetch(
            f"SELECT {_COLUMNS} FROM storage_files WHERE owner_id = $1 ORDER BY created_at DESC LIMIT $2",
            owner_id, MAX_LISTED,
        )  # fmt: skip
        return [_file(r) for r in rows]

    async def delete(self, file_id: uuid.UUID) -> bool:
        status = await self._sql.execute("DELETE FROM storage_files WHERE id = $1", file_id)
        return status.endswith(" 1")
