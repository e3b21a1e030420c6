"""Each video resilience switch, on and off, under a real fault injected through the fault proxy.

SQL store slow (latency on `cockroach`)   STORE_TIMEOUTS on: 503 within the timeout; off: no answer in time
SQL store down (`cockroach` disabled)     HEALTH_DEPS on: /health/ready 503; off: 200 whatever happens
calls stuck ringing (max age 1 s)         CLEANUP_JOBS on: ended by the periodic job; off: only on demand
too many sockets (video cap 1)            WS_CAP on: close 1013 and counted; off: accepted

Restarting the services takes most of these tests' time, so the classes share one switcher that
restarts only when the wanted profile changes, and storage's baseline checks run here too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import Account, assert_json_error, new_account, next_event, proxy_post, wait_until
from test_video_support import new_call, service_metric, signaling_socket, timed, video_ws_url
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from chaosgate.stack.launcher import LocalStack

# Calls ring for at most a second, the job runs twice a second, one signaling socket per process.
SHORT_LIVED = {"SC_VIDEO_STALE_RINGING": "1", "SC_CLEANUP_INTERVAL": "0.5", "SC_VIDEO_WS_CAP": "1"}
CALLS = "/v1/video/calls"


@pytest.fixture
def gateway(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture
def pair(gateway: httpx.Client) -> tuple[Account, Account]:
    return new_account(gateway), new_account(gateway)


class Switcher:
    """Puts the services on a profile and env, restarting only when they differ from the current ones."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.original = (stack.profile, dict(stack.switches), dict(stack.service_env))
        self.current = self.original

    def use(self, profile: str, env: dict[str, str]) -> None:
        wanted: tuple[str, dict[str, bool], dict[str, str]] = (profile, {}, env)
        if wanted != self.current:
            httpx.post(f"{self.stack.proxy_api_url}/reset", timeout=5.0)
            self.stack.restart_services(profile=profile, switches={}, env=env)
            self.current = wanted

    def restore(self) -> None:
        httpx.post(f"{self.stack.proxy_api_url}/reset", timeout=5.0)
        if self.current != self.original:
            profile, switches, env = self.original
            self.stack.restart_services(profile=profile, switches=switches, env=env)


@pytest.fixture(scope="module")
def switcher(local_stack: LocalStack) -> Iterator[Switcher]:
    chosen = Switcher(local_stack)
    try:
        yield chosen
    finally:
        chosen.restore()


def _slow_sql(proxy_api: str, ms: int) -> None:
    proxy_post(proxy_api, "/proxies/cockroach/toxics", {"type": "latency", "attributes": {"latency": ms}})


def _sql_down(proxy_api: str) -> None:
    proxy_post(proxy_api, "/proxies/cockroach", {"enabled": False})


def _ready(stack: LocalStack) -> httpx.Response:
    return httpx.get(stack.url_of("video") + "/health/ready", timeout=5.0)


def _admin_cleanup(gateway: httpx.Client, token: str | None) -> httpx.Response:
    headers = {"X-Admin-Token": token} if token is not None else {}
    return gateway.post("/v1/video/admin/cleanup", headers=headers)


@pytest.mark.usefixtures("running_stack")
class TestHardened:
    """The default stack: every switch on."""

    def test_a_slow_sql_store_gets_a_503_in_time_and_a_dead_one_makes_video_not_ready(
        self, gateway: httpx.Client, pair: tuple[Account, Account], local_stack: LocalStack, proxy_reset: str
    ) -> None:
        ada, bob = pair
        body = {"participants": [bob.user_id], "kind": "direct"}
        _slow_sql(proxy_reset, 3000)
        refused, took = timed(lambda: gateway.post(CALLS, json=body, headers=ada.headers))
        assert took < 2.5, f"create took {took:.2f}s with STORE_TIMEOUTS on"
        assert_json_error(refused, 503)

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        _sql_down(proxy_reset)
        not_ready = _ready(local_stack)
        assert not_ready.status_code == 503 and not_ready.json()["checks"]["sql"]["status"] == "down"
        assert_json_error(gateway.post(CALLS, json=body, headers=ada.headers), 503)

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        wait_until(lambda: _ready(local_stack).status_code == 200)
        assert gateway.post(CALLS, json=body, headers=ada.headers).status_code == 201


@pytest.fixture(scope="class")
def hardened_short_lived(switcher: Switcher) -> None:
    switcher.use("hardened", SHORT_LIVED)


@pytest.mark.usefixtures("hardened_short_lived")
class TestHardenedShortLived:
    def test_the_periodic_job_ends_a_call_stuck_ringing_and_counts_it(
        self, gateway: httpx.Client, pair: tuple[Account, Account], local_stack: LocalStack
    ) -> None:
        ada, bob = pair
        before = service_metric(local_stack.url_of("video"), "video_cleanup_stale_calls_total")
        call = new_call(gateway, ada, bob, kind="direct")
        url = f"{CALLS}/{call['id']}"
        wait_until(lambda: gateway.get(url, headers=ada.headers).json()["status"] == "ended", timeout=10)
        assert gateway.get(url, headers=bob.headers).json()["end_reason"] == "stale"
        assert service_metric(local_stack.url_of("video"), "video_cleanup_stale_calls_total") >= before + 1

    def test_only_the_admin_token_triggers_a_cleanup(
        self, gateway: httpx.Client, local_stack: LocalStack
    ) -> None:
        assert_json_error(_admin_cleanup(gateway, None), 403)
        assert_json_error(_admin_cleanup(gateway, "guess"), 403)
        answer = _admin_cleanup(gateway, local_stack.secret("admin_token"))
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"ended", "call_ids"}

    def test_a_socket_over_the_cap_is_closed_with_1013(
        self, pair: tuple[Account, Account], local_stack: LocalStack
    ) -> None:
        ada, bob = pair
        before = service_metric(local_stack.url_of("video"), "ws_rejected_total")
        with signaling_socket(local_stack.gateway_url, ada):
            with (
                connect(video_ws_url(local_stack.gateway_url, bob.token), open_timeout=10) as extra,
                pytest.raises(ConnectionClosed) as closed,
            ):
                extra.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert service_metric(local_stack.url_of("video"), "ws_rejected_total") == before + 1


@pytest.fixture(scope="class")
def baseline_short_lived(switcher: Switcher) -> None:
    switcher.use("baseline", SHORT_LIVED)


@pytest.mark.usefixtures("baseline_short_lived")
class TestBaseline:
    """Every switch off: what the reports found."""

    def test_a_slow_sql_store_leaves_creates_hanging_and_health_notices_nothing(
        self, gateway: httpx.Client, pair: tuple[Account, Account], local_stack: LocalStack, proxy_reset: str
    ) -> None:
        ada, bob = pair
        _slow_sql(proxy_reset, 1500)  # hardened answers 503 within 2.5 s on this (TestHardened)
        with pytest.raises(httpx.ReadTimeout):
            gateway.post(CALLS, json={"participants": [bob.user_id]}, headers=ada.headers, timeout=2.5)

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        _sql_down(proxy_reset)
        assert _ready(local_stack).status_code == 200

    def test_a_slow_object_store_makes_uploads_wait_and_health_notices_nothing(
        self, gateway: httpx.Client, pair: tuple[Account, Account], local_stack: LocalStack, proxy_reset: str
    ) -> None:
        ada, _ = pair
        proxy_post(
            proxy_reset, "/proxies/objectstore/toxics", {"type": "latency", "attributes": {"latency": 1500}}
        )
        upload = lambda: gateway.post(  # noqa: E731
            "/v1/storage/files", params={"name": "f.bin"}, content=b"slow", headers=ada.headers
        )
        stored, took = timed(upload)
        assert stored.status_code == 201, stored.text
        assert took >= 1.5, f"upload took only {took:.2f}s: no wait on the slow store?"

        httpx.post(f"{proxy_reset}/reset", timeout=5.0).raise_for_status()
        proxy_post(proxy_reset, "/proxies/objectstore", {"enabled": False})
        assert httpx.get(local_stack.url_of("storage") + "/health/ready", timeout=5.0).status_code == 200

    def test_no_periodic_job_runs_but_the_admin_endpoint_ends_stale_calls_and_counts_them(
        self, gateway: httpx.Client, pair: tuple[Account, Account], local_stack: LocalStack
    ) -> None:
        ada, bob = pair
        video = local_stack.url_of("video")
        before = service_metric(video, "video_cleanup_stale_calls_total")
        runs_before = service_metric(video, "video_cleanup_duration_seconds_count")
        call = new_call(gateway, ada, bob, kind="direct")
        time.sleep(2.0)  # four periods of the job, were it running
        assert gateway.get(f"{CALLS}/{call['id']}", headers=ada.headers).json()["status"] == "ringing"

        answer = _admin_cleanup(gateway, local_stack.secret("admin_token"))
        assert answer.status_code == 200, answer.text
        assert call["id"] in answer.json()["call_ids"]
        ended = gateway.get(f"{CALLS}/{call['id']}", headers=bob.headers).json()
        assert (ended["status"], ended["end_reason"]) == ("ended", "stale")
        assert service_metric(video, "video_cleanup_stale_calls_total") == before + answer.json()["ended"]
        assert service_metric(video, "video_cleanup_duration_seconds_count") == runs_before + 1

    def test_sockets_beyond_the_cap_are_accepted(
        self, pair: tuple[Account, Account], local_stack: LocalStack
    ) -> None:
        ada, bob = pair
        with (
            signaling_socket(local_stack.gateway_url, ada) as adas,
            signaling_socket(local_stack.gateway_url, bob),
        ):
            adas.send('{"type": "ping"}')
            assert next_event(adas, "pong") == {"type": "pong"}
