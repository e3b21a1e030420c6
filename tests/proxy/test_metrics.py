"""`GET /metrics`: real traffic through a proxy shows in its counters, under Toxiproxy's names and labels."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .kit import connect, free_port, listen_port, make_proxy, recv_exactly
from .test_api import assert_error

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(api: httpx.Client) -> Samples:
    """Every sample of /metrics by (name, sorted labels), read by Prometheus's own parser."""
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def toxiproxy_labels(proxy: dict[str, str], direction: str) -> tuple[tuple[str, str], ...]:
    """Toxiproxy 2.x's label set for its byte counters (its -proxy-metrics)."""
    return (
        ("direction", direction),
        ("listener", proxy["listen"]),
        ("proxy", proxy["name"]),
        ("upstream", proxy["upstream"]),
    )


def byte_counts(samples: Samples, proxy: dict[str, str]) -> dict[str, float]:
    counts = {}
    for metric in ("received", "sent"):
        for direction in ("upstream", "downstream"):
            key = (f"toxiproxy_proxy_{metric}_bytes_total", toxiproxy_labels(proxy, direction))
            counts[f"{metric} {direction}"] = samples[key]
    return counts


def connections_total(samples: Samples, name: str) -> float:
    return samples[("chaosgate_proxy_connections_total", (("proxy", name),))]


def echo_through(port: int, payload: bytes) -> None:
    with connect(port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def test_a_new_proxy_reports_zeroes_under_toxiproxy_labels(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "fresh", echo_port)
    samples = scrape(api)
    assert connections_total(samples, "fresh") == 0
    assert set(byte_counts(samples, proxy).values()) == {0}


def test_connections_and_bytes_grow_by_what_was_sent(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "counted", echo_port)
    before = scrape(api)

    payloads = [b"a" * 10, b"b" * 70_000, b"c" * 1234]  # one bigger than a socket read
    for payload in payloads:
        echo_through(listen_port(proxy), payload)

    after = scrape(api)
    sent = sum(len(p) for p in payloads)
    assert connections_total(after, "counted") - connections_total(before, "counted") == 3
    assert byte_counts(after, proxy) == {
        "received upstream": sent,  # from the clients
        "sent upstream": sent,  # to the echo server
        "received downstream": sent,  # its echo
        "sent downstream": sent,  # back to the clients
    }


def test_bytes_through_a_toxic_are_counted_when_they_pass(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "slowed", echo_port)
    api.post("/proxies/slowed/toxics", json={"type": "latency", "attributes": {"latency": 20}})
    echo_through(listen_port(proxy), b"x" * 5000)  # through the queued (slow) path
    assert set(byte_counts(scrape(api), proxy).values()) == {5000}


def test_dropped_bytes_are_received_but_not_sent(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "black-hole", echo_port)
    toxic = {"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}}  # drops all data
    assert api.post("/proxies/black-hole/toxics", json=toxic).status_code == 200
    with connect(listen_port(proxy)) as sock:
        sock.sendall(b"lost" * 100)
        deadline = time.monotonic() + 5
        while byte_counts(scrape(api), proxy)["received upstream"] < 400:
            assert time.monotonic() < deadline, "the proxy never read the bytes"
            time.sleep(0.02)
    counts = byte_counts(scrape(api), proxy)
    assert counts["received upstream"] == 400
    assert counts["sent upstream"] == 0


def test_a_connection_to_a_dead_upstream_is_still_counted(api: httpx.Client) -> None:
    proxy = make_proxy(api, "dead-end", free_port())
    with connect(listen_port(proxy)) as sock:
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1) == b""  # closed at once: nothing listens upstream
    assert connections_total(scrape(api), "dead-end") == 1


def test_label_values_are_escaped(api: httpx.Client, echo_port: int) -> None:
    name = 'quote"and\\slash'
    proxy = make_proxy(api, name, echo_port)
    echo_through(listen_port(proxy), b"ok")
    samples = scrape(api)  # Prometheus's parser reads the name back whole
    assert connections_total(samples, name) == 1
    assert byte_counts(samples, proxy)["sent downstream"] == 2


def test_metrics_keep_the_api_guards(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "guarded", echo_port)
    assert_error(api.get("/metrics", headers={"Host": "attacker.example"}), 403, "Host")
    assert_error(api.get("/metrics", headers={"Origin": "https://attacker.example"}), 403, "Origin")


def test_counters_survive_the_connections_they_count(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "kept", echo_port)
    socks = [connect(listen_port(proxy)) for _ in range(4)]
    for sock in socks:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"
    open_now = scrape(api)[("chaosgate_proxy_connections", (("proxy", "kept"),))]
    for sock in socks:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    assert open_now == 4
    assert connections_total(scrape(api), "kept") == 4
