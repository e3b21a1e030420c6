"""Benchmark of the fault proxy against direct loopback: round trip, throughput, latency accuracy.

Run `python bench/proxy.py`. The echo server and the proxy (`python -m chaosgate proxy serve`) run
as separate processes so they do not share this client's interpreter (and its GIL).

After the latency toxic's samples it prints a control with no proxy in the path (how late a sleep of
the same length wakes up, and a direct request after that much idle time), which no check uses: on
a virtual machine, waking an idle vCPU sometimes takes milliseconds, and that shows up in the
proxied latency samples too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROUND_TRIPS = 10_000
WARMUP = 500
MESSAGE = b"x" * 64
STREAM_BYTES = 256 * 1024 * 1024
STREAM_CHUNK = 256 * 1024
LATENCY_MS = 100
LATENCY_SAMPLES = 100
DEADLINE_S = 300.0  # the whole bench gives up after this long

TARGET_RTT_RATIO = 2.0
TARGET_THROUGHPUT_RATIO = 0.25
TARGET_LATENCY_MEAN_MS = 0.5
TARGET_LATENCY_STDEV_MS = 0.3


# -- the echo server (its own process) ------------------------------------------------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=1 << 20)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


def run_echo_server() -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(DEADLINE_S)

    uvloop.run(main())


# -- helpers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api(port: int, method: str, path: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


@contextmanager
def echo_server() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, __file__, "--echo-server"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def proxy_server(extra_args: list[str]) -> Iterator[int]:
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosgate", "proxy", "serve", "--port", str(port), *extra_args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                api(port, "GET", "/version")
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the proxy did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(sock: socket.socket, message: bytes) -> None:
    sock.sendall(message)
    got = 0
    while got < len(message):
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed mid-exchange")
        got += len(data)


def round_trips(port: int, count: int) -> list[float]:
    """Seconds per request/response exchange of a small message."""
    with connect(port) as sock:
        for _ in range(WARMUP):
            exchange(sock, MESSAGE)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            exchange(sock, MESSAGE)
            samples.append(time.perf_counter() - start)
    return samples


def idle_round_trips(port: int, count: int, idle: float) -> tuple[list[float], list[float]]:
    """The control for the latency toxic's samples, with no proxy in the path: how late a sleep of
    `idle` seconds wakes up (seconds past its end), and how long an exchange of a small message
    with `port` takes after that much silence (seconds).

    In the latency samples every process of the path sits idle for the toxic's delay before each
    exchange, and the proxy itself wakes on a timer. What waking an idle process costs varies with
    the machine (on a virtual machine, the hypervisor wakes a sleeping vCPU); these figures show
    that variation on its own. Informational only: no check uses them.
    """
    with connect(port) as sock:
        for _ in range(WARMUP // 10):
            exchange(sock, MESSAGE)
        overshoots, samples = [], []
        for _ in range(count):
            wake_at = time.perf_counter() + idle
            time.sleep(idle)
            start = time.perf_counter()
            overshoots.append(start - wake_at)
            exchange(sock, MESSAGE)
            samples.append(time.perf_counter() - start)
    return overshoots, samples


def throughput(port: int) -> float:
    """MB/s of a STREAM_BYTES stream sent and echoed back at the same time."""
    chunk = os.urandom(STREAM_CHUNK)
    with connect(port) as sock:
        sock.settimeout(60)

        def send() -> None:
            for _ in range(STREAM_BYTES // STREAM_CHUNK):
                sock.sendall(chunk)

        start = time.perf_counter()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        buf = bytearray(1 << 20)
        received = 0
        while received < STREAM_BYTES:
            n = sock.recv_into(buf)
            if not n:
                raise ConnectionError("stream closed early")
            received += n
        elapsed = time.perf_counter() - start
        sender.join(60)
    return STREAM_BYTES / elapsed / 1e6


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Figures:
    p50_us: float
    p99_us: float
    mb_s: float


def measure(direct_port: int, proxy_port: int) -> tuple[Figures, Figures]:
    """Direct and proxied figures, measured in alternating blocks so that a noisy neighbour on the
    machine weighs on both alike."""
    direct: list[float] = []
    proxied: list[float] = []
    blocks = 10
    with connect(direct_port) as d_sock, connect(proxy_port) as p_sock:
        for sock in (d_sock, p_sock):
            for _ in range(WARMUP):
                exchange(sock, MESSAGE)
        for _ in range(blocks):
            for sock, samples in ((d_sock, direct), (p_sock, proxied)):
                for _ in range(ROUND_TRIPS // blocks):
                    start = time.perf_counter()
                    exchange(sock, MESSAGE)
                    samples.append(time.perf_counter() - start)
    d_mb, p_mb = throughput(direct_port), throughput(proxy_port)
    return (
        Figures(percentile(direct, 0.5) * 1e6, percentile(direct, 0.99) * 1e6, d_mb),
        Figures(percentile(proxied, 0.5) * 1e6, percentile(proxied, 0.99) * 1e6, p_mb),
    )


def main(proxy_args: list[str]) -> int:
    direct, proxied, rtts, overshoots, idle_rtts = _bench(proxy_args)
    base_ms = proxied.p50_us / 1e3
    errors = [rtt - LATENCY_MS - base_ms for rtt in rtts]
    _print_figures(direct, proxied)
    _print_latency(rtts, errors, base_ms)
    _print_control(overshoots, idle_rtts)
    checks = _checks(
        rtt_ratio=proxied.p50_us / direct.p50_us,
        tput_ratio=proxied.mb_s / direct.mb_s,
        mean_err=statistics.mean(errors),
        stdev_err=statistics.stdev(errors),
    )
    print()
    for label, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label:36} measured {value}")
    return 0 if all(ok for _, _, ok in checks) else 1


def _bench(proxy_args: list[str]) -> tuple[Figures, Figures, list[float], list[float], list[float]]:
    """Direct and proxied figures, round trips (ms) through a latency toxic, and the no-proxy control
    (how late a sleep wakes, the round trips after it; seconds)."""
    with echo_server() as echo_port, proxy_server(proxy_args) as api_port:
        proxy = api(
            api_port,
            "POST",
            "/proxies",
            {"name": "bench", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        )
        assert isinstance(proxy, dict)
        proxy_port = int(str(proxy["listen"]).rsplit(":", 1)[1])
        direct, proxied = measure(echo_port, proxy_port)
        toxic = {"type": "latency", "attributes": {"latency": LATENCY_MS}}
        api(api_port, "POST", "/proxies/bench/toxics", toxic)
        rtts = [s * 1e3 for s in round_trips(proxy_port, LATENCY_SAMPLES)]
        overshoots, idle_rtts = idle_round_trips(echo_port, LATENCY_SAMPLES, LATENCY_MS / 1e3)
    return direct, proxied, rtts, overshoots, idle_rtts


def _print_figures(direct: Figures, proxied: Figures) -> None:
    print(f"{'':24}{'direct':>12}{'proxied':>12}{'ratio':>10}")
    rtt_ratio, tput_ratio = proxied.p50_us / direct.p50_us, proxied.mb_s / direct.mb_s
    print(f"{'round trip p50 (µs)':24}{direct.p50_us:12.1f}{proxied.p50_us:12.1f}{rtt_ratio:10.2f}")
    print(
        f"{'round trip p99 (µs)':24}{direct.p99_us:12.1f}{proxied.p99_us:12.1f}"
        f"{proxied.p99_us / direct.p99_us:10.2f}"
    )
    print(f"{'throughput (MB/s)':24}{direct.mb_s:12.1f}{proxied.mb_s:12.1f}{tput_ratio:10.2f}")


def _print_latency(rtts: list[float], errors: list[float], base_ms: float) -> None:
    print(
        f"latency toxic {LATENCY_MS} ms, {LATENCY_SAMPLES} requests: "
        f"RTT mean {statistics.mean(rtts):.3f} ms, "
        f"min {min(rtts):.3f}, max {max(rtts):.3f}, stdev {statistics.stdev(rtts):.3f}; "
        f"no-toxic proxied p50 {base_ms:.3f} ms"
    )
    print(
        f"latency error (RTT - {LATENCY_MS} ms - proxied p50): "
        f"mean {statistics.mean(errors):+.3f} ms, stdev {statistics.stdev(errors):.3f} ms, "
        f"median {statistics.median(errors):+.3f} ms"
    )


def _print_control(overshoots: list[float], idle_rtts: list[float]) -> None:
    late = [s * 1e3 for s in overshoots]
    idle_ms = [s * 1e3 for s in idle_rtts]
    print(
        f"control, no proxy (no check): a {LATENCY_MS} ms sleep wakes late by "
        f"median {statistics.median(late):.3f} ms, max {max(late):.3f}, stdev {statistics.stdev(late):.3f}; "
        f"a direct request after it: RTT median {statistics.median(idle_ms):.3f} ms, "
        f"max {max(idle_ms):.3f}, stdev {statistics.stdev(idle_ms):.3f}"
    )


def _checks(
    *, rtt_ratio: float, tput_ratio: float, mean_err: float, stdev_err: float
) -> list[tuple[str, str, bool]]:
    """The targets: (label, measured, whether it holds)."""
    checks = [
        (f"round trip p50 ratio <= {TARGET_RTT_RATIO}", f"{rtt_ratio:.2f}", rtt_ratio <= TARGET_RTT_RATIO),
        (
            f"throughput ratio >= {TARGET_THROUGHPUT_RATIO}",
            f"{tput_ratio:.2f}",
            tput_ratio >= TARGET_THROUGHPUT_RATIO,
        ),
        (
            f"latency mean error <= {TARGET_LATENCY_MEAN_MS} ms",
            f"{mean_err:+.3f}",
            abs(mean_err) <= TARGET_LATENCY_MEAN_MS,
        ),
        (
            f"latency error stdev <= {TARGET_LATENCY_STDEV_MS} ms",
            f"{stdev_err:.3f}",
            stdev_err <= TARGET_LATENCY_STDEV_MS,
        ),
    ]
    return checks


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--proxy-arg", action="append", default=[], help="extra flag for `proxy serve`")
    args = parser.parse_args()
    if args.echo_server:
        run_echo_server()
    else:
        sys.exit(main(args.proxy_arg))
