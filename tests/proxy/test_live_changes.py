"""Changes that reach connections already open, enabling/disabling, dead upstreams, many connections."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
import time

import httpx
import pytest

from .kit import connect, free_port, listen_port, make_proxy, recv_exactly

# "Flows" (no toxic holds it): well under any held toxic here, with room for a busy CI machine (80 ms seen).
FLOWS_S = 0.15

def round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.monotonic() - start


def test_latency_added_to_an_open_connection_applies(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "live", echo_port)
    with connect(listen_port(proxy)) as sock:
        assert round_trip(sock) < 0.02
        api.post("/proxies/live/toxics", json={"type": "latency", "attributes": {"latency": 80}})
        assert 0.08 <= round_trip(sock) <= 0.11
        api.patch("/proxies/live/toxics/latency_downstream", json={"attributes": {"latency": 20}})
        assert 0.02 <= round_trip(sock) <= 0.04  # the update applies to the next chunks
        api.delete("/proxies/live/toxics/latency_downstream")
        assert round_trip(sock) < 0.02


def test_a_chunk_held_by_latency_is_released_when_the_toxic_goes(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "held", echo_port)
    api.post("/proxies/held/toxics", json={"type": "latency", "attributes": {"latency": 10_000}})
    with connect(listen_port(proxy)) as sock:
        start = time.monotonic()
        sock.sendall(b"stuck")
        timer = threading.Timer(0.2, lambda: api.delete("/proxies/held/toxics/latency_downstream"))
        timer.start()
        assert recv_exactly(sock, 5) == b"stuck"
        elapsed = time.monotonic() - start
        timer.join()
    assert 0.19 <= elapsed <= 0.5


def test_removing_a_timeout_toxic_lets_the_connection_flow_again(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "unblock", echo_port)
    with connect(listen_port(proxy), timeout=0.3) as sock:
        api.post("/proxies/unblock/toxics", json={"type": "timeout", "attributes": {"timeout": 0}})
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)  # the echo of "lost" is dropped while the toxic is active
        assert api.delete("/proxies/unblock/toxics/timeout_downstream").status_code == 204
        sock.settimeout(5)
        assert round_trip(sock, b"flows") < FLOWS_S


def test_disabled_proxy_drops_and_refuses_then_listens_again(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "onoff", echo_port)
    port = listen_port(proxy)
    with connect(port) as sock:
        assert round_trip(sock) < FLOWS_S
        assert api.post("/proxies/onoff", json={"enabled": False}).json()["enabled"] is False
        with pytest.raises(OSError):
            sock.sendall(b"x")
            if sock.recv(10) == b"":
                raise ConnectionResetError("closed")
    with pytest.raises(ConnectionRefusedError):
        connect(port, timeout=1)
    assert api.post("/proxies/onoff", json={"enabled": True}).json()["listen"] == f"127.0.0.1:{port}"
    with connect(port) as sock:
        assert round_trip(sock) < FLOWS_S


def test_changing_upstream_drops_open_connections(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "move", echo_port)
    with connect(listen_port(proxy)) as sock:
        assert round_trip(sock) < FLOWS_S
        api.patch("/proxies/move", json={"upstream": f"127.0.0.1:{free_port()}"})
        sock.settimeout(2)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""


def test_dead_upstream_closes_the_client_promptly(api: httpx.Client) -> None:
    proxy = make_proxy(api, "dead", free_port())
    with connect(listen_port(proxy)) as sock:
        start = time.monotonic()
        sock.sendall(b"hello?")
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""
        assert time.monotonic() - start < 0.5


async def _stream_through(port: int, payload: bytes, chunk: int, pause: float) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        for offset in range(0, len(payload), chunk):
            writer.write(payload[offset : offset + chunk])
            await writer.drain()
            await asyncio.sleep(pause)

    sender = asyncio.create_task(send())
    received = await reader.readexactly(len(payload))
    await sender
    writer.close()
    return hashlib.sha256(received).hexdigest()


def test_100_connections_keep_every_byte_while_toxics_come_and_go(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "many", echo_port)
    port = listen_port(proxy)
    payloads = [os.urandom(48 * 1024) for _ in range(100)]

    def churn() -> None:
        time.sleep(0.1)
        for stream in ("downstream", "upstream"):
            api.post(
                "/proxies/many/toxics",
                json={"type": "latency", "stream": stream, "attributes": {"latency": 5, "jitter": 3}},
            )
            api.post(
                "/proxies/many/toxics",
                json={
                    "type": "slicer",
                    "stream": stream,
                    "attributes": {"average_size": 700, "size_variation": 300, "delay": 50},
                },
            )
        time.sleep(0.3)
        api.patch("/proxies/many/toxics/latency_downstream", json={"attributes": {"latency": 1}})
        time.sleep(0.1)
        for stream in ("downstream", "upstream"):
            api.delete(f"/proxies/many/toxics/latency_{stream}")
            api.delete(f"/proxies/many/toxics/slicer_{stream}")

    async def run_all() -> list[str]:
        jobs = [_stream_through(port, payload, 2048, 0.02) for payload in payloads]
        return list(await asyncio.wait_for(asyncio.gather(*jobs), 60))

    churner = threading.Thread(target=churn)
    churner.start()
    digests = asyncio.run(run_all())
    churner.join(10)
    assert digests == [hashlib.sha256(payload).hexdigest() for payload in payloads]
    assert api.get("/proxies/many/toxics").json() == []
