"""Fixtures for the proxy tests: a proxy server in a background thread, real upstream servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from chaosgate.proxy.server import ServerOptions

from .kit import (
    CloseHandler,
    EchoHandler,
    RunningServer,
    SourceHandler,
    ThreadingServer,
    start_server_thread,
)


@pytest.fixture(scope="session")
def proxy_server() -> Iterator[RunningServer]:
    running = start_server_thread(ServerOptions(host="127.0.0.1", port=0))
    yield running
    running.shutdown()


@pytest.fixture
def api(proxy_server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client on the API; every proxy is deleted after the test."""
    with httpx.Client(base_url=proxy_server.url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    """A threaded echo server on loopback."""
    server = ThreadingServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def source_port() -> Iterator[int]:
    """A server that answers "N\\n" with N pattern bytes: data that flows downstream only."""
    server = ThreadingServer(("127.0.0.1", 0), SourceHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def closing_port() -> Iterator[int]:
    """A server that closes every connection as soon as it has accepted it."""
    server = ThreadingServer(("127.0.0.1", 0), CloseHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
