"""Fixtures for injector tests: our proxy server as a subprocess, and a TCP echo upstream."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from chaosgate.proxy.client import ToxiproxyClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def new_port() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="module")
def proxy_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chaosgate", "proxy", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/version", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"proxy server did not start: {process.stderr.read() if process.stderr else ''!r}")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def echo_upstream() -> Iterator[int]:
    """A threaded TCP echo server; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.fixture
def client(proxy_server: str) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(proxy_server, timeout_s=3.0) as c:
        c.reset()
        for name in list(c.proxies()):
            c.delete_proxy(name)
        yield c
