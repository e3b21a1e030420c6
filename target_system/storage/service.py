"""The storage service's root object: stores and repositories built in one place, and the upload rules."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from target_system.common.errors import BadRequest, Forbidden, NotFound, ServiceError, TooLarge
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.common.revocations import RevocationFeed
from target_system.common.sql import SqlStore
from target_system.common.text import check_line
from target_system.common.tokens import Authenticator
from target_system.settings import Settings
from target_system.storage.files import FileCatalog
from target_system.storage.models import (
    MAX_CLIENT_ID_CHARS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_NAME_CHARS,
    StoredFile,
)
from target_system.storage.objects import ObjectMissing, ObjectStore
from target_system.storage.schema import STORAGE_SCHEMA
from target_system.storage.tunables import StorageTunables

_log = logging.getLogger(__name__)

DEFAULT_SQL_DSN = "postgresql://postgres@127.0.0.1:26257/secureconnect"


@dataclass(frozen=True, slots=True)
class Upload:
    """One file as the client sent it."""

    name: str
    content_type: str
    data: bytes
    client_file_id: str | None


@dataclass(frozen=True, slots=True)
class Uploaded:
    file: StoredFile
    created: bool  # False: a retry that found the file the first attempt stored


@dataclass(slots=True)
class StorageService:
    settings: Settings
    tunables: StorageTunables
    sql: SqlStore
    redis: ResilientRedis
    auth: Authenticator
    revocation_feed: RevocationFeed
    catalog: FileCatalog
    objects: ObjectStore

    @classmethod
    def build(cls, settings: Settings, metrics: ServiceMetrics, tunables: StorageTunables) -> StorageService:
        """Everything wired, nothing connected yet (`start` does that)."""
        sql = SqlStore(settings.sql_dsn or DEFAULT_SQL_DSN, settings, metrics, name="cockroach")
        redis = ResilientRedis(settings, metrics)
        auth = Authenticator(settings, redis, metrics)
        return cls(
            settings=settings,
            tunables=tunables,
            sql=sql,
            redis=redis,
            auth=auth,
            revocation_feed=RevocationFeed(settings, auth.revocations, metrics),
            catalog=FileCatalog(sql),
            objects=ObjectStore(settings, metrics, tunables),
        )

    async def start(self) -> None:
        await self.sql.migrate(STORAGE_SCHEMA)
        await self.revocation_feed.start()
        await self.objects.ensure_bucket(deadline_seconds=self.settings.tunables.migrate_timeout)

    async def stop(self) -> None:
        await self.revocation_feed.stop()
        await self.objects.close()
        await self.redis.close()
        await self.sql.close()

    def check(self, upload: Upload) -> None:
        """Refuse what may not be stored: too big (413), unnamed, oddly named or typed (400)."""
        if len(upload.data) > self.tunables.max_file_bytes:
            raise TooLarge(
                f"files are limited to {self.tunables.max_file_bytes} bytes", code="file_too_large"
            )
        if not upload.name.strip() or len(upload.name) > MAX_NAME_CHARS:
            raise BadRequest(f"a file needs a name of 1 to {MAX_NAME_CHARS} characters")
        check_line(upload.name, "the file name", max_length=MAX_NAME_CHARS)
        check_line(upload.content_type, "the content type", max_length=MAX_CONTENT_TYPE_CHARS)
        if upload.client_file_id is not None:
            check_line(upload.client_file_id, "client_file_id", max_length=MAX_CLIENT_ID_CHARS)

    async def upload(self, owner_id: str, upload: Upload) -> Uploaded:
        """Blob first, then metadata: metadata never points at a blob that was not stored."""
        self.check(upload)
        if upload.client_file_id is not None:
            existing = await self.catalog.by_client_id(owner_id, upload.client_file_id)
            if existing is not None:
                return Uploaded(existing, created=False)
        file_id = uuid.uuid4()
        file = StoredFile(
            id=file_id,
            owner_id=owner_id,
            name=upload.name,
            content_type=upload.content_type,
            size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
            object_key=f"files/{owner_id}/{file_id}",
            client_file_id=upload.client_file_id,
            created_at=datetime.now(UTC),
        )
        await self.objects.put(file.object_key, upload.data, file.content_type)
        stored = await self.catalog.insert(file)
        if stored is not None:
            return Uploaded(stored, created=True)
        # A concurrent retry with the same client id won: keep its file, drop our blob.
        await self._forget_blob(file.object_key)
        assert upload.client_file_id is not None  # only a client id can conflict
        winner = await self.catalog.by_client_id(owner_id, upload.client_file_id)
        if winner is None:
            raise NotFound("the file was deleted while it was being uploaded")
        return Uploaded(winner, created=False)

    async def owned(self, file_id: uuid.UUID, user_id: str) -> StoredFile:
        """The file's metadata if `user_id` owns it; 404 or 403 otherwise."""
        file = await self.catalog.get(file_id)
        if file is None:
            raise NotFound("no such file")
        if file.owner_id != user_id:
            raise Forbidden("only the owner may access this file")
        return file

    async def download(self, file_id: uuid.UUID, user_id: str) -> tuple[StoredFile, bytes]:
        file = await self.owned(file_id, user_id)
        try:
            return file, await self.objects.get(file.object_key)
        except ObjectMissing:
            raise NotFound("the file's content is gone", code="content_missing") from None

    async def delete(self, file_id: uuid.UUID, user_id: str) -> None:
        """Metadata first (the file is gone for users at once), then the blob (best effort)."""
        file = await self.owned(file_id, user_id)
        await self.catalog.delete(file.id)
        await self._forget_blob(file.object_key)

    async def _forget_blob(self, key: str) -> None:
        # An orphaned blob costs space, not correctness: the answer does not wait on it failing.
        with contextlib.suppress(ObjectMissing):
            try:
                await self.objects.delete(key)
            except ServiceError as exc:
                _log.warning("blob %s left behind: %s", key, exc.message)
