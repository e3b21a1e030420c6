"""Helpers for the proxy tests: sockets, upstream servers and the in-process proxy server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any

import httpx
import uvloop

from chaosgate.proxy.server import ProxyServer, ServerOptions


@dataclass
class RunningServer:
    """A proxy server running in its own thread and loop."""

    server: ProxyServer
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.api_port}"

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        assert not self.thread.is_alive()


def start_server_thread(options: ServerOptions) -> RunningServer:
    server = ProxyServer(options)
    loop = uvloop.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        holder["stop"] = stop
        try:
            loop.run_until_complete(server.serve(stop, lambda _server: ready.set()))
        except BaseException as exc:  # surfaced to the test through `holder`
            holder["error"] = exc
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "proxy server did not start"
    if "error" in holder:
        raise holder["error"]
    return RunningServer(server, loop, holder["stop"], thread)


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                sock.sendall(data)


class ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_proxy(api: httpx.Client, name: str, upstream_port: int, **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/proxies",
        json={"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}", **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def listen_port(proxy: dict[str, Any]) -> int:
    return int(str(proxy["listen"]).rsplit(":", 1)[1])


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        data = sock.recv(size - len(buf))
        if not data:
            break
        buf += data
    return bytes(buf)


def pattern(size: int) -> bytes:
    """Recognisable, position-dependent bytes, so a lost or reordered byte shows."""
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


class SourceHandler(socketserver.BaseRequestHandler):
    """Reads a decimal byte count and a newline, sends that many pattern bytes, then waits."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError):
            line = b""
            while not line.endswith(b"\n"):
                data = sock.recv(64)
                if not data:
                    return
                line += data
            sock.sendall(pattern(int(line)))
            sock.settimeout(30)
            while sock.recv(65536):
                pass


class CloseHandler(socketserver.BaseRequestHandler):
    """Accepts and closes at once (socketserver closes the socket when `handle` returns)."""

    def handle(self) -> None:
        pass


def recv_until_closed(sock: socket.socket, limit: int = 1 << 24) -> bytes:
    buf = bytearray()
    while len(buf) < limit:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return bytes(buf)
