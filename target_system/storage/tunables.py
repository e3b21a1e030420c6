"""Storage-only tunables that `Settings` does not carry, read once from `SC_STORAGE_*` when the app is built.

| env | default | meaning |
| --- | --- | --- |
| SC_STORAGE_MAX_FILE_BYTES | 5242880 | largest file accepted (5 MiB); above it uploads answer 413 |
| SC_STORAGE_BUCKET | secureconnect-files | the bucket blobs live in (created at startup if missing) |
| SC_STORAGE_ACCESS_KEY | secureconnect | S3 access key id |
| SC_STORAGE_SECRET_KEY | secureconnect-secret | S3 secret key |
| SC_STORAGE_REGION | us-east-1 | S3 region the client signs for |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Room for multipart framing around the largest file, so the body limit never cuts off a legal upload.
MULTIPART_OVERHEAD = 64 * 1024
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
DEFAULT_BUCKET = "secureconnect-files"
DEFAULT_ACCESS_KEY = "secureconnect"
DEFAULT_SECRET_KEY = "secureconnect-secret"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class StorageTunables:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    bucket: str = DEFAULT_BUCKET
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    region: str = DEFAULT_REGION

    @property
    def max_body_bytes(self) -> int:
        return self.max_file_bytes + MULTIPART_OVERHEAD

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StorageTunables:
        raw = environ.get("SC_STORAGE_MAX_FILE_BYTES", "").strip()
        try:
            max_file = int(raw) if raw else DEFAULT_MAX_FILE_BYTES
        except ValueError:
            raise ValueError(f"SC_STORAGE_MAX_FILE_BYTES={raw!r} is not a valid int") from None
        if max_file < 1:
            raise ValueError(f"SC_STORAGE_MAX_FILE_BYTES={raw!r} must be at least 1")

        def text(key: str, default: str) -> str:
            return environ.get(key, "").strip() or default

        return cls(
            max_file_bytes=max_file,
            bucket=text("SC_STORAGE_BUCKET", DEFAULT_BUCKET),
            access_key=text("SC_STORAGE_ACCESS_KEY", DEFAULT_ACCESS_KEY),
            secret_key=text("SC_STORAGE_SECRET_KEY", DEFAULT_SECRET_KEY),
            region=text("SC_STORAGE_REGION", DEFAULT_REGION),
        )
