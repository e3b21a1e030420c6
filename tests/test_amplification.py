"""Amplification: the proxy's counters parsed, sampled on the scenario clock, and turned into rates
per window (fault against steady), for the faulted link and its callers' links."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import pytest

from chaosgate.amplification import (
    LinkCount,
    LinkCounters,
    LinkSampler,
    Snapshot,
    amplification,
    parse_counters,
)
from chaosgate.observe import Clock
from chaosgate.proxy.server import ProxyServer, ServerOptions


def toxiproxy_line(metric: str, direction: str, proxy: str, port: int, value: str) -> str:
    labels = (
        f'direction="{direction}",listener="[::]:{port}",proxy="{proxy}",upstream="{proxy}:{port - 20000}"'
    )
    return f"toxiproxy_proxy_{metric}_bytes_total{{{labels}}} {value}"


# What a real Toxiproxy 2.x serves with -proxy-metrics: bytes only, Go's float formatting, labels in
# Prometheus's sorted order, and other families around them.
TOXIPROXY_TEXT = "\n".join(
    [
        "# HELP go_goroutines Number of goroutines that currently exist.",
        "# TYPE go_goroutines gauge",
        "go_goroutines 23",
        "# HELP toxiproxy_proxy_received_bytes_total",
        "# TYPE toxiproxy_proxy_received_bytes_total counter",
        toxiproxy_line("received", "downstream", "redis", 26379, "2.5e+06"),
        toxiproxy_line("received", "upstream", "redis", 26379, "1.048576e+06"),
        toxiproxy_line("received", "upstream", "storage", 28084, "512"),
        "# HELP toxiproxy_proxy_sent_bytes_total",
        "# TYPE toxiproxy_proxy_sent_bytes_total counter",
        toxiproxy_line("sent", "upstream", "redis", 26379, "9"),
    ]
)


def test_a_real_toxiproxy_text_gives_bytes_per_proxy_and_no_connections() -> None:
    assert parse_counters(TOXIPROXY_TEXT) == {
        "redis": LinkCount(connections=None, bytes=1048576.0),  # what the clients sent, upstream only
        "storage": LinkCount(connections=None, bytes=512.0),
    }


def test_chaosgate_text_gives_connections_and_survives_odd_lines() -> None:
    text = """\
chaosgate_proxy_connections{proxy="redis"} 7
chaosgate_proxy_connections_total{proxy="redis"} 41
chaosgate_proxy_connections_total{proxy="say \\"hi\\""} 2 1700000000000
chaosgate_proxy_connections_total{proxy="broken"} not-a-number
chaosgate_proxy_connections_total 5
toxiproxy_proxy_received_bytes_total{direction="upstream",proxy="redis",upstream="x:1"} 300
garbage line {
"""
    assert parse_counters(text) == {
        "redis": LinkCount(connections=41.0, bytes=300.0),
        'say "hi"': LinkCount(connections=2.0, bytes=None),  # escaped quotes, a trailing timestamp
    }


def snapshots(link: str, points: Sequence[tuple[float, float | None, float | None]]) -> list[Snapshot]:
    return [Snapshot(t, {link: LinkCount(conns, data)}) for t, conns, data in points]


def test_rates_per_window_and_their_ratio() -> None:
    # 10 connections/s and 1000 bytes/s while steady (t 0..4), then 40/s and 500/s in the fault (t 5..9)
    points = [(float(t), 10.0 * t, 1000.0 * t) for t in range(5)]
    points += [(float(t), 40.0 + 40.0 * (t - 4), 4000.0 + 500.0 * (t - 4)) for t in range(5, 10)]
    rows = amplification(
        snapshots("objectstore", points), steady=(0, 4), fault=(5, 9), faulted="objectstore", callers=[]
    )
    assert [(r.link, r.role, r.unit, r.steady, r.fault, r.ratio) for r in rows] == [
        ("objectstore", "faulted", "connections/s", 10.0, 40.0, 4.0),
        ("objectstore", "faulted", "bytes/s", 1000.0, 500.0, 0.5),
    ]


def test_no_steady_traffic_or_too_few_snapshots_give_no_ratio() -> None:
    pooled = snapshots("cockroach", [(0, 3, 0), (1, 3, 0), (2, 3, 0), (3, 9, 50), (4, 15, 80)])
    rows = amplification(pooled, steady=(0, 2), fault=(3, 4), faulted="cockroach", callers=[])
    assert [(r.unit, r.steady, r.fault, r.ratio) for r in rows] == [
        ("connections/s", 0.0, 6.0, None),  # a pool reconnecting in the fault, none opened before
        ("bytes/s", 0.0, 30.0, None),
    ]
    one_point = amplification(pooled, steady=(0, 0.5), fault=(3, 4), faulted="cockroach", callers=[])
    assert {r.steady for r in one_point} == {None}
    assert {r.ratio for r in one_point} == {None}


def test_a_counter_reset_counts_from_zero_not_negative() -> None:
    # the proxy was recreated between t=1 and t=2: 5 -> 2 means 2 new connections, not -3
    points = snapshots("redis", [(0, 0, None), (1, 5, None), (2, 2, None), (3, 4, None)])
    (row,) = amplification(points, steady=(0, 1), fault=(1, 3), faulted="redis", callers=[])
    assert (row.unit, row.steady, row.fault) == ("connections/s", 5.0, 2.0)  # (2 + 2) / 2 s


def test_callers_follow_the_faulted_link_once_each_and_unseen_links_show_empty() -> None:
    both = [
        Snapshot(0.0, {"objectstore": LinkCount(None, 0), "storage": LinkCount(None, 0)}),
        Snapshot(1.0, {"objectstore": LinkCount(None, 100), "storage": LinkCount(None, 50)}),
        Snapshot(2.0, {"objectstore": LinkCount(None, 300), "storage": LinkCount(None, 250)}),
    ]
    rows = amplification(
        both,
        steady=(0, 1),
        fault=(1, 2),
        faulted="objectstore",
        callers=["storage", "objectstore", "gateway", "storage"],
    )
    assert [(r.link, r.role, r.unit, r.ratio) for r in rows] == [
        ("objectstore", "faulted", "bytes/s", 2.0),
        ("storage", "caller", "bytes/s", 4.0),
        ("gateway", "caller", "bytes/s", None),  # no proxy in front of it: shown, not invented
    ]


async def test_a_proxy_api_that_does_not_answer_is_recorded_not_raised() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sampler = LinkSampler(LinkCounters(f"http://127.0.0.1:{port}", timeout_s=0.5), Clock(), interval_s=0.05)
    async with sampler:
        await asyncio.sleep(0.2)
    assert sampler.snapshots == []
    assert sampler.failures and all("ConnectError" in line for line in sampler.failures)


# -- against the real proxy server, in this test's loop ------------------------------------------


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
    writer.close()


@asynccontextmanager
async def proxied_echo() -> AsyncIterator[tuple[str, int]]:
    """A proxy server (API URL) with one proxy, `objectstore`, in front of an echo server (its port)."""
    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    server = ProxyServer(ServerOptions(host="127.0.0.1", port=0))
    await server.start()
    api = f"http://127.0.0.1:{server.api_port}"
    try:
        async with httpx.AsyncClient(base_url=api, trust_env=False) as client:
            body = {"name": "objectstore", "listen": "127.0.0.1:0", "upstream": upstream_address(upstream)}
            proxy = (await client.post("/proxies", json=body)).json()
        yield api, int(proxy["listen"].rsplit(":", 1)[1])
    finally:
        await server.stop()
        upstream.close()


def upstream_address(server: asyncio.Server) -> str:
    host, port = server.sockets[0].getsockname()[:2]
    return f"{host}:{port}"


async def requests(port: int, count: int, every_s: float) -> None:
    """`count` short connections, one request each, `every_s` apart: what a client without a pool does."""
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /object\n")
        assert await reader.readexactly(12) == b"GET /object\n"
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(every_s)


async def test_a_fault_that_multiplies_connections_shows_as_their_ratio() -> None:
    clock = Clock()
    async with proxied_echo() as (api, port):
        sampler = LinkSampler(LinkCounters(api), clock, interval_s=0.1)
        async with sampler:
            steady_start = clock()
            await requests(port, 5, every_s=0.2)  # 5 per second
            steady_end = fault_start = clock()
            await requests(port, 25, every_s=0.04)  # 25 per second: a retry storm
            fault_end = clock()
    rows = amplification(
        sampler.snapshots,
        steady=(steady_start, steady_end),
        fault=(fault_start, fault_end),
        faulted="objectstore",
        callers=[],
    )
    by_unit = {row.unit: row for row in rows}
    assert sampler.failures == []
    assert set(by_unit) == {"connections/s", "bytes/s"}
    last = sampler.snapshots[-1].links["objectstore"]
    assert (last.connections, last.bytes) == (30, 30 * 12)  # every connection and byte sent, counted
    for row in rows:
        assert row.steady is not None and row.fault is not None and row.ratio is not None
        assert 2.0 < row.ratio < 12.0, row  # about 5x; wide for a shared, busy machine
        assert row.ratio == pytest.approx(row.fault / row.steady, rel=0.01)
