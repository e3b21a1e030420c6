"""The storage service's data: stored file metadata as a frozen dataclass."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_NAME_CHARS = 255
MAX_CLIENT_ID_CHARS = 200
MAX_CONTENT_TYPE_CHARS = 255
MAX_CLIENT_IDS = 200


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: uuid.UUID
    owner_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    object_key: str
    client_file_id: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "owner_id": self.owner_id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "client_file_id": self.client_file_id,
            "created_at": self.created_at.isoformat(),
        }
