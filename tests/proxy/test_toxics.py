"""Each toxic's effect, measured on real connections through the proxy."""

from __future__ import annotations

import socket
import statistics
import time

import httpx
import pytest

from .kit import connect, listen_port, make_proxy, pattern, recv_exactly, recv_until_closed

# Measures this machine's timing (CPU) itself: scripts/test runs it alone, after the parallel suite.
pytestmark = pytest.mark.alone


def add_toxic(api: httpx.Client, proxy: str, **toxic: object) -> None:
    response = api.post(f"/proxies/{proxy}/toxics", json=toxic)
    assert response.status_code == 200, response.text


def round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.monotonic() - start


def test_latency_delays_each_round_trip_precisely(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "lat", echo_port)
    add_toxic(api, "lat", type="latency", attributes={"latency": 50})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        samples = [round_trip(sock) for _ in range(10)]
    assert min(samples) >= 0.050
    assert statistics.median(samples) <= 0.058


def test_upstream_latency_also_delays(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "uplat", echo_port)
    add_toxic(api, "uplat", type="latency", stream="upstream", attributes={"latency": 40})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        samples = [round_trip(sock) for _ in range(5)]
    assert min(samples) >= 0.040
    assert statistics.median(samples) <= 0.048


def test_jitter_spreads_latency_within_bounds(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "jit", echo_port)
    add_toxic(api, "jit", type="latency", attributes={"latency": 30, "jitter": 15})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        samples = [round_trip(sock) for _ in range(20)]
    assert min(samples) >= 0.015
    assert max(samples) <= 0.060  # 30 + 15 ms, plus scheduling slack on a busy 2-core machine
    assert statistics.stdev(samples) > 0.002  # it does vary


def test_latency_pipelines_a_stream(api: httpx.Client, echo_port: int) -> None:
    """Ten chunks sent 10 ms apart each arrive 100 ms after they were sent, not one after another."""
    proxy = make_proxy(api, "pipe", echo_port)
    add_toxic(api, "pipe", type="latency", attributes={"latency": 100})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        start = time.monotonic()
        for i in range(10):
            sock.sendall(bytes([i]) * 10)
            time.sleep(0.01)
        data = recv_exactly(sock, 100)
        elapsed = time.monotonic() - start
    assert data == b"".join(bytes([i]) * 10 for i in range(10))
    assert 0.19 <= elapsed <= 0.30


def test_bandwidth_limits_the_rate(api: httpx.Client, source_port: int) -> None:
    proxy = make_proxy(api, "bw", source_port)
    add_toxic(api, "bw", type="bandwidth", attributes={"rate": 100})  # 100 KB/s
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        start = time.monotonic()
        sock.sendall(b"60000\n")
        data = recv_exactly(sock, 60000)
        elapsed = time.monotonic() - start
    assert data == pattern(60000)
    assert 0.55 <= elapsed <= 0.80  # 60 kB at 100 kB/s is 0.6 s


def test_slow_close_delays_the_close(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "sc", echo_port)
    port = int(proxy["listen"].rsplit(":", 1)[1])

    def close_after_shutdown() -> float:
        with connect(port) as sock:
            sock.sendall(b"bye")
            assert recv_exactly(sock, 3) == b"bye"
            start = time.monotonic()
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(10) == b""
            return time.monotonic() - start

    assert close_after_shutdown() < 0.1
    add_toxic(api, "sc", type="slow_close", attributes={"delay": 300})
    assert 0.29 <= close_after_shutdown() <= 0.45


def run_sliced_transfer(api: httpx.Client, source_port: int, name: str) -> None:
    """A proxy carries data through a slicer toxic, which is then removed."""
    proxy = make_proxy(api, name, source_port)
    add_toxic(api, name, type="slicer", attributes={"average_size": 20, "size_variation": 10, "delay": 100})
    with connect(listen_port(proxy)) as sock:
        sock.sendall(b"2000\n")
        assert recv_exactly(sock, 2000) == pattern(2000)
    assert api.delete(f"/proxies/{name}/toxics/slicer_downstream").status_code == 204


def wait_for_upstream_close(api: httpx.Client, closing_port: int, name: str) -> float:
    """Seconds a client of a new slow_close (400 ms) proxy waits for the close of its upstream."""
    proxy = make_proxy(api, name, closing_port)
    add_toxic(api, name, type="slow_close", attributes={"delay": 400})
    with connect(listen_port(proxy)) as sock:
        start = time.monotonic()
        assert recv_until_closed(sock) == b""
        return time.monotonic() - start


@pytest.mark.parametrize("slicer_first", [False, True], ids=["alone", "after-slicer"])
def test_slow_close_delays_an_upstream_that_closes_on_accept(
    api: httpx.Client, source_port: int, closing_port: int, slicer_first: bool
) -> None:
    """The upstream's EOF can reach the proxy before the connection has set up its toxics; it must
    still wait for slow_close, every time and whatever another proxy ran before."""
    waits = []
    for attempt in range(7):
        if slicer_first:
            run_sliced_transfer(api, source_port, f"sliced-{attempt}")
        waits.append(wait_for_upstream_close(api, closing_port, f"closing-{attempt}"))
    assert min(waits) >= 0.35, waits
    assert max(waits) <= 0.8, waits


def test_timeout_stalls_then_closes(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "to", echo_port)
    add_toxic(api, "to", type="timeout", attributes={"timeout": 200})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        start = time.monotonic()
        sock.sendall(b"anyone?")
        assert recv_until_closed(sock) == b""  # nothing came through, then the close
        elapsed = time.monotonic() - start
    assert 0.19 <= elapsed <= 0.35


def test_timeout_zero_holds_the_connection_open(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "to0", echo_port)
    add_toxic(api, "to0", type="timeout", attributes={"timeout": 0})
    with connect(int(proxy["listen"].rsplit(":", 1)[1]), timeout=0.5) as sock:
        sock.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            sock.recv(10)


def test_reset_peer_resets_the_connection(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "rst", echo_port)
    add_toxic(api, "rst", type="reset_peer", attributes={"timeout": 100})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        start = time.monotonic()
        assert round_trip(sock) < 0.05  # data flows until the reset
        with pytest.raises(ConnectionResetError):
            while sock.recv(10):
                pass
        elapsed = time.monotonic() - start
    assert 0.09 <= elapsed <= 0.25


@pytest.mark.parametrize(("stream", "expected"), [("downstream", 1000), ("upstream", 5000)])
def test_limit_data_cuts_its_direction_at_n_bytes(
    api: httpx.Client, source_port: int, stream: str, expected: int
) -> None:
    """Downstream: the client gets exactly 1000 bytes. Upstream: the 6-byte request fits in 1000."""
    proxy = make_proxy(api, f"limit-{stream}", source_port)
    add_toxic(api, f"limit-{stream}", type="limit_data", stream=stream, attributes={"bytes": 1000})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        sock.sendall(b"5000\n")
        data = recv_until_closed(sock) if stream == "downstream" else recv_exactly(sock, 5000)
    assert data == pattern(5000)[:expected]


def test_limit_data_upstream_closes_after_n_bytes(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "limit-up", echo_port)
    add_toxic(api, "limit-up", type="limit_data", stream="upstream", attributes={"bytes": 10})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        start = time.monotonic()
        sock.sendall(b"0123456789abcdef")
        echoed = recv_until_closed(sock)  # closed once 10 bytes went up; the echo may not be back yet
        assert time.monotonic() - start < 1.0
    assert b"0123456789".startswith(echoed)


def test_slicer_chops_data_into_small_reads_intact(api: httpx.Client, source_port: int) -> None:
    proxy = make_proxy(api, "slice", source_port)
    add_toxic(
        api, "slice", type="slicer", attributes={"average_size": 20, "size_variation": 10, "delay": 1000}
    )
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        sock.sendall(b"2000\n")
        reads = []
        while sum(map(len, reads)) < 2000:
            data = sock.recv(65536)
            assert data
            reads.append(data)
    assert b"".join(reads) == pattern(2000)
    assert len(reads) >= 40  # about 100 slices of 10-30 bytes, 1 ms apart
    assert statistics.median(map(len, reads)) <= 60


def test_toxicity_zero_has_no_effect(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "tox0", echo_port)
    add_toxic(api, "tox0", type="latency", toxicity=0.0, attributes={"latency": 500})
    with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
        assert max(round_trip(sock) for _ in range(5)) < 0.1


def test_toxicity_is_rolled_per_connection(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "half", echo_port)
    add_toxic(api, "half", type="latency", toxicity=0.5, attributes={"latency": 30})
    slow = 0
    for _ in range(30):
        with connect(int(proxy["listen"].rsplit(":", 1)[1])) as sock:
            first, second = round_trip(sock), round_trip(sock)
        assert (first >= 0.03) == (second >= 0.03)  # the same verdict for the whole connection
        slow += first >= 0.03
    assert 3 <= slow <= 27
