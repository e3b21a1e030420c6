"""Toxiproxy's own Python client (`toxiproxy-python`) drives the server end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

from .kit import RunningServer, connect, recv_exactly


@pytest.fixture
def toxiproxy(proxy_server: RunningServer) -> Iterator[Toxiproxy]:
    # The client keeps its server address as class attributes: set them, then put them back.
    saved = (APIConsumer.host, APIConsumer.port)
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", proxy_server.server.api_port)
    try:
        yield server
    finally:
        server.destroy_all()
        APIConsumer.host, APIConsumer.port = saved


def test_toxiproxy_client_end_to_end(toxiproxy: Toxiproxy, echo_port: int) -> None:
    assert toxiproxy.running()
    assert b"2." in toxiproxy.version()
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="client_e2e")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert toxiproxy.get_proxy("client_e2e") is not None
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="client_e2e")

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    assert set(proxy.toxics()) == {"latency_downstream"}
    with connect(port) as sock:
        start = time.monotonic()
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
        assert 0.1 <= time.monotonic() - start <= 0.13

        proxy.destroy_toxic("latency_downstream")
        start = time.monotonic()
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
        assert time.monotonic() - start < 0.02

    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(port, timeout=1)
    with connect(port) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"

    assert toxiproxy.reset()
    assert proxy.destroy()
    assert toxiproxy.get_proxy("client_e2e") is None
    with pytest.raises(NotFound):
        proxy.destroy()


def test_toxiproxy_client_populate(toxiproxy: Toxiproxy, echo_port: int) -> None:
    created = toxiproxy.populate(
        [{"name": "pop_a", "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"}]
    )
    assert [p.name for p in created] == ["pop_a"]
    assert set(toxiproxy.proxies()) == {"pop_a"}
