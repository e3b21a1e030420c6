"""Storage's resilience switches on (the hardened session stack) under a real fault through the fault proxy.

object store slow (latency on `objectstore`)  STORE_TIMEOUTS on: 503 within the timeout
object store down (`objectstore` disabled)     HEALTH_DEPS on: /health/ready 503 naming it

The same faults with the switches off (uploads wait, health says 200) run in test_video_faults.py's
TestBaseline, which shares one restart of the services with video's baseline checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import Account, assert_json_error, new_account, proxy_post, wait_until
from test_video_support import service_metric, timed

from chaosgate.stack.launcher import LocalStack

FILES = "/v1/storage/files"
OBJECT_STORE = "objectstore"


@pytest.fixture
def gateway(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture
def owner(gateway: httpx.Client) -> Account:
    return new_account(gateway)


def _upload(gateway: httpx.Client, owner: Account, data: bytes) -> httpx.Response:
    return gateway.post(FILES, params={"name": "f.bin"}, content=data, headers=owner.headers)


def _slow_object_store(proxy_api: str, ms: int) -> None:
    proxy_post(
        proxy_api, f"/proxies/{OBJECT_STORE}/toxics", {"type": "latency", "attributes": {"latency": ms}}
    )


def _object_store_down(proxy_api: str) -> None:
    proxy_post(proxy_api, f"/proxies/{OBJECT_STORE}", {"enabled": False})


def _ready(stack: LocalStack) -> httpx.Response:
    return httpx.get(stack.url_of("storage") + "/health/ready", timeout=5.0)


@pytest.mark.usefixtures("running_stack")
class TestHardened:
    """The default stack: every switch on."""

    def test_a_slow_object_store_gets_503_within_the_timeout_for_uploads_and_downloads(
        self, gateway: httpx.Client, owner: Account, local_stack: LocalStack, proxy_reset: str
    ) -> None:
        stored = _upload(gateway, owner, os.urandom(10_000))
        assert stored.status_code == 201, stored.text
        timeouts = service_metric(local_stack.url_of("storage"), "object_store_timeout_total")

        _slow_object_store(proxy_reset, 3000)
        refused, took = timed(lambda: _upload(gateway, owner, os.urandom(10_000)))
        assert took < 2.5, f"upload took {took:.2f}s with STORE_TIMEOUTS on"
        assert assert_json_error(refused, 503)["code"] == "object_store_timeout"
        download, took = timed(lambda: gateway.get(f"{FILES}/{stored.json()['id']}", headers=owner.headers))
        assert took < 2.5
        assert_json_error(download, 503)
        assert service_metric(local_stack.url_of("storage"), "object_store_timeout_total") >= timeouts + 2

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        wait_until(lambda: _upload(gateway, owner, b"back").status_code == 201)

    def test_a_dead_object_store_makes_storage_not_ready_and_uploads_refused(
        self, gateway: httpx.Client, owner: Account, local_stack: LocalStack, proxy_reset: str
    ) -> None:
        _object_store_down(proxy_reset)
        not_ready = _ready(local_stack)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"][OBJECT_STORE]["status"] == "down"
        refused, took = timed(lambda: _upload(gateway, owner, b"nowhere to go"))
        assert took < 2.5
        assert assert_json_error(refused, 503)["code"].startswith("object_store")
        # Metadata lives elsewhere: listing still works.
        assert gateway.get(FILES, headers=owner.headers).status_code == 200

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        wait_until(lambda: _ready(local_stack).status_code == 200)
