"""The API holds up: Host and Origin checks, idle and slow clients, the connection cap, allowed upstreams."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from chaosgate.proxy.guard import UpstreamAllowList
from chaosgate.proxy.server import ServerOptions

from .kit import RunningServer, free_port, make_proxy, start_server_thread
from .test_api import assert_error


@contextmanager
def serving(**options: Any) -> Iterator[RunningServer]:
    running = start_server_thread(ServerOptions(host="127.0.0.1", port=0, **options))
    try:
        yield running
    finally:
        running.shutdown()


def raw_connection(running: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.server.api_port), timeout=5)


def read_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(4096):
        data += chunk
    return bytes(data)


def status_and_body(response: bytes) -> tuple[int, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- Host and Origin --------------------------------------------------------------------------------


def test_a_rebound_host_name_is_refused(api: httpx.Client, echo_port: int) -> None:
    """A page on evil.example whose name now resolves to 127.0.0.1 sends its own name as Host."""
    rebound = {"Host": "evil.example:8474"}
    assert_error(api.get("/version", headers=rebound), 403, "evil.example", "--allow-remote")
    body = {"name": "stolen", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"}
    assert_error(api.post("/proxies", json=body, headers=rebound), 403)
    assert api.get("/proxies").json() == {}


@pytest.mark.parametrize(
    "host", ["192.168.1.5:8474", "127.0.0.1.evil.example", "localhost.evil.example:8474", "127.0.0.1@evil:80"]
)
def test_names_that_only_look_local_are_refused(api: httpx.Client, host: str) -> None:
    assert_error(api.get("/version", headers={"Host": host}), 403, "loopback")


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8474", "LocalHost:8474", "127.0.0.1", "127.0.0.1:8474", "[::1]:8474"]
)
def test_loopback_host_names_are_answered(api: httpx.Client, host: str) -> None:
    assert api.get("/version", headers={"Host": host}).status_code == 200


def test_a_request_without_host_is_answered(proxy_server: RunningServer) -> None:
    with raw_connection(proxy_server) as sock:
        sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        status, body = status_and_body(read_until_closed(sock))
    assert status == 200
    assert b'"version"' in body


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://evil.example:443", "null", "http://10.0.0.1"]
)
def test_a_foreign_page_origin_is_refused(api: httpx.Client, origin: str) -> None:
    response = api.post("/reset", headers={"Origin": origin})
    assert_error(response, 403, "Origin", "web pages")


def test_a_loopback_page_origin_is_answered(api: httpx.Client) -> None:
    assert api.get("/version", headers={"Origin": "http://localhost:3000"}).status_code == 200
    assert api.get("/version", headers={"Origin": "http://[::1]:3000"}).status_code == 200


def test_allow_remote_answers_any_host_but_still_refuses_foreign_pages() -> None:
    with serving(allow_remote=True) as running, httpx.Client(base_url=running.url, timeout=5) as api:
        assert api.get("/version", headers={"Host": "chaos-host:8474"}).status_code == 200
        assert_error(api.get("/version", headers={"Origin": "http://evil.example"}), 403, "Origin")


# -- idle and slow clients, the connection cap ------------------------------------------------------


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    with serving(api_idle_timeout=0.3) as running, raw_connection(running) as sock:
        start = time.monotonic()
        assert sock.recv(1) == b""
        assert 0.2 < time.monotonic() - start < 3


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    with serving(api_idle_timeout=0.3) as running, raw_connection(running) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _ = status_and_body(sock.recv(4096))
        assert status == 200
        start = time.monotonic()
        assert sock.recv(1) == b""  # nothing more asked: the connection ends
        assert 0.2 < time.monotonic() - start < 3


def test_a_request_sent_too_slowly_gets_408_and_a_close() -> None:
    with serving(api_idle_timeout=0.3) as running, raw_connection(running) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        status, body = status_and_body(read_until_closed(sock))
    assert status == 408
    assert b'"status": 408' in body


def test_idle_connections_at_the_cap_make_room_for_a_new_request() -> None:
    with serving(api_max_connections=2) as running:
        idle = [raw_connection(running) for _ in range(20)]
        try:
            with httpx.Client(base_url=running.url, timeout=5) as api:
                assert api.get("/version").status_code == 200
            for sock in idle[:-1]:  # each newcomer closed the one waiting longest, the last one stays
                assert sock.recv(1) == b""
            idle[-1].settimeout(0.2)
            with pytest.raises(TimeoutError):
                idle[-1].recv(1)
        finally:
            for sock in idle:
                sock.close()


def test_a_keep_alive_client_whose_connection_made_room_reconnects() -> None:
    with serving(api_max_connections=1) as running, httpx.Client(base_url=running.url, timeout=5) as api:
        assert api.get("/version").status_code == 200
        with raw_connection(running) as other:  # takes the only place from the idle keep-alive one
            other.sendall(b"GET /version HTTP/1.0\r\n\r\n")
            assert status_and_body(read_until_closed(other))[0] == 200
        assert api.get("/version").status_code == 200


# -- where proxies may lead -------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", ["10.1.2.3:80", "example.com:80", "0.0.0.0:22", "[::ffff:10.0.0.1]:80"])
def test_by_default_a_proxy_may_lead_only_to_loopback(api: httpx.Client, upstream: str) -> None:
    response = api.post("/proxies", json={"name": "out", "listen": "127.0.0.1:0", "upstream": upstream})
    assert_error(response, 403, "loopback", "--upstream-allow")
    assert api.get("/proxies").json() == {}


def test_loopback_upstreams_are_allowed_by_default(api: httpx.Client, echo_port: int) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "[::1]"):
        response = api.post("/proxies", json={"name": host, "upstream": f"{host}:{echo_port}"})
        assert response.status_code == 201, response.text


def test_moving_or_populating_a_proxy_elsewhere_is_refused(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "kept", echo_port)
    assert_error(api.patch("/proxies/kept", json={"upstream": "10.1.2.3:80"}), 403, "10.1.2.3:80")
    assert api.get("/proxies/kept").json() == proxy
    body = [
        {"name": "fine", "upstream": f"127.0.0.1:{echo_port}"},
        {"name": "out", "upstream": "db.internal:5432"},
    ]
    assert_error(api.post("/populate", json=body), 403, "db.internal")
    assert set(api.get("/proxies").json()) == {"kept"}


def test_upstream_allow_replaces_the_default() -> None:
    upstreams = UpstreamAllowList.parse(["10.0.0.0/8", "Redis"])
    with serving(upstreams=upstreams) as running, httpx.Client(base_url=running.url, timeout=5) as api:
        for upstream in ("10.1.2.3:80", "redis:6379", "redis.:6379"):
            response = api.post("/proxies", json={"name": upstream, "upstream": upstream})
            assert response.status_code == 201, response.text
        for upstream in ("192.168.0.1:80", "redis-2:6379", f"127.0.0.1:{free_port()}"):
            response = api.post("/proxies", json={"name": upstream, "upstream": upstream})
            assert_error(response, 403, upstream, "--upstream-allow (10.0.0.0/8, Redis)")


def test_upstream_allow_star_allows_anywhere() -> None:
    assert UpstreamAllowList.parse(["*"]).allows("db.internal")
    assert not UpstreamAllowList.parse([]).allows("db.internal")


@pytest.mark.parametrize("entry", ["redis:6379", "10.0.0.0/33", "http://redis", ""])
def test_an_upstream_allow_entry_of_no_known_form_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="not an IP address, a network"):
        UpstreamAllowList.parse([entry])
