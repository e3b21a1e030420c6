"""The toxiproxy injector drives a real proxy server (ours, as a subprocess) and never waits unbounded."""

from __future__ import annotations

import socket
import time

import pytest

from chaosgate.errors import FaultError
from chaosgate.proxy.client import ToxiproxyApiError, ToxiproxyClient
from chaosgate.toxics import Stream


def round_trip_s(port: int, payload: bytes = b"ping") -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        started = time.perf_counter()
        s.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = s.recv(65536)
            assert chunk, "connection closed before the echo came back"
            received += chunk
        assert received == payload
        return time.perf_counter() - started


def test_latency_toxic_is_applied_and_removed(client: ToxiproxyClient, echo_upstream: int) -> None:
    proxy = client.create_proxy("echo", upstream=f"127.0.0.1:{echo_upstream}", listen="127.0.0.1:0")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert round_trip_s(port) < 0.05

    with client.toxic("echo", "latency", attributes={"latency": 200}) as toxic:
        assert toxic.name == "latency_downstream"
        assert toxic.stream is Stream.DOWNSTREAM
        assert [t.name for t in client.toxics("echo")] == ["latency_downstream"]
        assert 0.19 < round_trip_s(port) < 0.4

    assert client.toxics("echo") == []
    assert round_trip_s(port) < 0.05


def test_update_toxic_changes_its_attributes(client: ToxiproxyClient, echo_upstream: int) -> None:
    client.create_proxy("echo", upstream=f"127.0.0.1:{echo_upstream}", listen="127.0.0.1:0")
    client.add_toxic("echo", "latency", attributes={"latency": 50}, name="slow")
    updated = client.update_toxic("echo", "slow", attributes={"latency": 120})
    assert updated.attributes["latency"] == 120
    assert client.proxy("echo").toxics[0].attributes["latency"] == 120


def test_disable_refuses_connections_until_enabled(client: ToxiproxyClient, echo_upstream: int) -> None:
    proxy = client.create_proxy("echo", upstream=f"127.0.0.1:{echo_upstream}", listen="127.0.0.1:0")
    port = int(proxy.listen.rsplit(":", 1)[1])
    with client.disabled("echo") as down:
        assert down.enabled is False
        with pytest.raises(OSError):
            round_trip_s(port)
    assert client.proxy("echo").enabled is True
    assert round_trip_s(port) < 0.05


def test_reset_removes_every_toxic_and_enables_every_proxy(
    client: ToxiproxyClient, echo_upstream: int
) -> None:
    client.populate(
        [
            {"name": "a", "upstream": f"127.0.0.1:{echo_upstream}", "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": f"127.0.0.1:{echo_upstream}", "listen": "127.0.0.1:0"},
        ]
    )
    client.add_toxic("a", "timeout", attributes={"timeout": 0})
    client.disable("b")
    client.reset()
    proxies = client.proxies()
    assert all(p.enabled and not p.toxics for p in proxies.values())
    assert set(proxies) == {"a", "b"}


def test_api_errors_carry_status_and_message(client: ToxiproxyClient) -> None:
    with pytest.raises(ToxiproxyApiError) as missing:
        client.add_toxic("nope", "latency")
    assert missing.value.status == 404
    assert "nope" in str(missing.value)
    with pytest.raises(ToxiproxyApiError) as conflict:
        client.create_proxy("dup", upstream="127.0.0.1:1", listen="127.0.0.1:0")
        client.create_proxy("dup", upstream="127.0.0.1:1", listen="127.0.0.1:0")
    assert conflict.value.status == 409
    client.remove_toxic("dup", "never-added", missing_ok=True)  # a rollback of a gone toxic is fine
    with pytest.raises(ToxiproxyApiError):
        client.remove_toxic("dup", "never-added")


def test_a_server_that_never_answers_times_out_instead_of_hanging() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never answers
    try:
        port = silent.getsockname()[1]
        with ToxiproxyClient(f"http://127.0.0.1:{port}", timeout_s=0.5) as c:
            started = time.monotonic()
            with pytest.raises(FaultError, match="timed out"):
                c.reset()
            assert time.monotonic() - started < 2.0
    finally:
        silent.close()


def test_an_unreachable_server_is_a_fault_error(unused_port: int) -> None:
    with (
        ToxiproxyClient(f"http://127.0.0.1:{unused_port}", timeout_s=0.5) as c,
        pytest.raises(FaultError, match="unreachable"),
    ):
        c.version()
