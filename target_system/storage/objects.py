"""Blobs in an S3-API object store, through boto3 on a thread pool, with the STORE_TIMEOUTS switch.

- STORE_TIMEOUTS on: every call is bounded by `store_timeout` (connect and read timeouts of the
  client, one attempt, and an overall bound on the awaiting side); running out answers 503
  `object_store_timeout` and counts `object_store_timeout_total{service,op}`.
- Off: boto3's defaults (60 s connect and read timeouts, its own retries), as the reports found it.
- An unreachable or failing store answers 503 `object_store_unavailable` whatever the switch.

boto3 is synchronous; its calls run on a pool of this object's own so that a slow store cannot
starve the event loop's default executor.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from target_system.common.errors import Unavailable
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.storage.tunables import StorageTunables
from target_system.switches import Switch

T = TypeVar("T")

DEFAULT_ENDPOINT = "http://127.0.0.1:29000"
POOL_THREADS = 16
BUCKET_READY_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class ObjectStoreUnavailable(Unavailable):
    CODE = "object_store_unavailable"
    MESSAGE = "the object store is unavailable"


class ObjectMissing(Exception):
    """The key has no object (metadata and blobs disagree)."""


class BucketMissing(ObjectMissing):
    """The bucket itself is gone (an in-memory store restarted): every object in it is gone too."""


class ObjectStore:
    """One bucket of an S3-API store."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, tunables: StorageTunables) -> None:
        self.bucket = tunables.bucket
        self.endpoint = settings.object_store_url or DEFAULT_ENDPOINT
        self._service = metrics.service
        bounded = settings.switches.on(Switch.STORE_TIMEOUTS)
        self.timeout: float | None = settings.tunables.store_timeout if bounded else None
        config = (
            Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"max_attempts": 1, "mode": "standard"},
                max_pool_connections=POOL_THREADS,
            )
            if self.timeout is not None
            else Config(max_pool_connections=POOL_THREADS)
        )
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=tunables.region,
            aws_access_key_id=tunables.access_key,
            aws_secret_access_key=tunables.secret_key,
            config=config.merge(Config(s3={"addressing_style": "path"})),
        )
        self._pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="object-store")
        self._timeouts = metrics.counter(
            "object_store_timeout_total", "Object-store calls that ran out of time", ("service", "op")
        )
        self._failures = metrics.counter(
            "object_store_unavailable_total", "Object-store calls that failed", ("service", "op")
        )

    async def _call(self, op: str, fn: Callable[[], T], *, timeout: float | None = None) -> T:
        bound = timeout if timeout is not None else self.timeout
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn)
        try:
            if bound is None:
                return await future
            return await asyncio.wait_for(future, bound)
        except (TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
            # Ours or the client's own bound, whichever ran out first: the same fault.
            self._timeouts.labels(self._service, op).inc()
            raise ObjectStoreUnavailable(
                f"object store {op} took longer than {bound}s", code="object_store_timeout"
            ) from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "NoSuchBucket":
                raise BucketMissing(op) from exc
            if code in ("NoSuchKey", "404"):
                raise ObjectMissing(op) from exc
            self._failures.labels(self._service, op).inc()
            raise ObjectStoreUnavailable(f"object store {op} failed: {exc}"[:300]) from exc
        except BotoCoreError as exc:
            self._failures.labels(self._service, op).inc()
            raise ObjectStoreUnavailable(f"object store {op} failed: {exc}"[:300]) from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        put = functools.partial(
            self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )
        try:
            await self._call("put", put)
        except BucketMissing:
            # The store lost its buckets (restarted); make ours again rather than refuse every upload.
            await self._call("create_bucket", self._create_bucket)
            await self._call("put", put)

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = answer["Body"].read()
            return body

        return await self._call("get", read)

    async def delete(self, key: str) -> None:
        await self._call("delete", functools.partial(self._client.delete_object, Bucket=self.bucket, Key=key))

    async def ping(self) -> None:
        """The ready check: the bucket exists and answers (made again if the store lost it)."""
        try:
            await self._call("head_bucket", functools.partial(self._client.head_bucket, Bucket=self.bucket))
        except ObjectMissing:  # head_bucket says 404, not NoSuchBucket
            await self._call("create_bucket", self._create_bucket)

    async def ensure_bucket(self, *, deadline_seconds: float) -> None:
        """Create the bucket unless it exists, retrying while the store is not up yet (start-order races)."""
        deadline = time.monotonic() + deadline_seconds
        delay = 0.1
        while True:
            try:
                await self._call("create_bucket", self._create_bucket, timeout=5.0)
                return
            except ObjectStoreUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _create_bucket(self) -> None:
        try:
            self._client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in BUCKET_READY_CODES:
                raise

    async def close(self) -> None:
        # Threads stuck on a slow store finish on their own timeouts; do not wait for them here.
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
