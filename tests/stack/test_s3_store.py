"""The object store of the local runtime: a real S3-API server (moto) behind its own proxy link."""

from __future__ import annotations

import uuid

import boto3
import httpx
import psutil
from botocore.config import Config

from chaosgate.stack.launcher import LocalStack
from chaosgate.topology import StoreKind

OBJECT_STORE = "objectstore"


def s3_client(endpoint: str) -> object:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1}),
    )


def test_the_object_store_speaks_s3_through_its_proxy(local_stack: LocalStack) -> None:
    endpoint = local_stack.url_of(OBJECT_STORE, via_proxy=True)
    assert endpoint == f"http://127.0.0.1:{local_stack.topology.links[OBJECT_STORE].listen}"
    client = s3_client(endpoint)
    bucket = f"stack-test-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    client.put_object(Bucket=bucket, Key="k", Body=b"through the proxy")  # type: ignore[attr-defined]
    body = client.get_object(Bucket=bucket, Key="k")["Body"].read()  # type: ignore[attr-defined]
    assert body == b"through the proxy"
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    assert bucket in names


def test_the_storage_service_created_its_bucket(local_stack: LocalStack) -> None:
    answer = httpx.get(local_stack.url_of(OBJECT_STORE), timeout=5.0)
    assert answer.status_code == 200 and "<Name>secureconnect-files</Name>" in answer.text


def test_status_names_the_real_backend_and_the_server_stays_light(local_stack: LocalStack) -> None:
    status = local_stack.status().component(OBJECT_STORE)
    assert status.healthy and status.alive and status.backend == "S3 API (moto server)"
    assert local_stack.topology.stores[OBJECT_STORE].kind is StoreKind.S3
    assert local_stack.backends()["minio"] == "S3 API (moto server), a local process"  # by its role
    pid = local_stack.pid_of(OBJECT_STORE)
    assert pid is not None
    rss = psutil.Process(pid).memory_info().rss
    assert rss < 200 * 1024 * 1024, f"the object store uses {rss / 2**20:.0f} MiB"


def test_the_object_store_is_unreachable_while_its_link_is_down(
    local_stack: LocalStack, proxy_reset: str
) -> None:
    endpoint = local_stack.url_of(OBJECT_STORE, via_proxy=True)
    httpx.post(
        f"{proxy_reset}/proxies/{OBJECT_STORE}", json={"enabled": False}, timeout=5.0
    ).raise_for_status()
    try:
        httpx.get(endpoint, timeout=2.0)
        reached = True
    except httpx.HTTPError:
        reached = False
    assert not reached
    httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
    assert httpx.get(endpoint, timeout=5.0).status_code == 200
