"""`GET /metrics`: every proxy's counters in the Prometheus text format (version 0.0.4).

The byte counters carry Toxiproxy 2.x's names and labels (what its `-proxy-metrics` flag exports:
`toxiproxy_proxy_received_bytes_total` and `toxiproxy_proxy_sent_bytes_total`, labelled direction,
listener, proxy and upstream), so one dashboard or one reader reads either server. Toxiproxy counts
no connections; `chaosgate_proxy_connections_total` is ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chaosgate.proxy.counters import StreamBytes
from chaosgate.proxy.proxy import Proxy
from chaosgate.toxics import Stream

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, rows: Iterable[tuple[dict[str, str], int]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in rows:
        text = ",".join(f'{key}="{_escape(labels[key])}"' for key in sorted(labels))
        lines.append(f"{name}{{{text}}} {value}")
    return lines


def _bytes_rows(proxies: list[Proxy], pick: Callable[[StreamBytes], int]) -> list[tuple[dict[str, str], int]]:
    rows = []
    for proxy in proxies:
        for stream in Stream:
            labels = {
                "direction": stream.value,
                "listener": str(proxy.listen),
                "proxy": proxy.name,
                "upstream": str(proxy.upstream),
            }
            rows.append((labels, pick(proxy.traffic.of(stream))))
    return rows


def render_metrics(proxies: list[Proxy]) -> str:
    """The whole exposition, one family after another (the format wants each family's lines together)."""
    lines = [
        *_family(
            "chaosgate_proxy_connections",
            "gauge",
            "Open connections through each proxy.",
            [({"proxy": p.name}, p.connection_count) for p in proxies],
        ),
        *_family(
            "chaosgate_proxy_connections_total",
            "counter",
            "Connections each proxy accepted from clients since it was created.",
            [({"proxy": p.name}, p.traffic.connections) for p in proxies],
        ),
        *_family(
            "chaosgate_proxy_toxics",
            "gauge",
            "Toxics configured on each proxy.",
            [({"proxy": p.name}, len(p.toxics)) for p in proxies],
        ),
        *_family(
            "toxiproxy_proxy_received_bytes_total",
            "counter",
            "Bytes each proxy read, per direction (upstream: from clients; downstream: from the server).",
            _bytes_rows(proxies, lambda counted: counted.received),
        ),
        *_family(
            "toxiproxy_proxy_sent_bytes_total",
            "counter",
            "Bytes each proxy wrote, per direction (upstream: to the server; downstream: to clients).",
            _bytes_rows(proxies, lambda counted: counted.sent),
        ),
    ]
    return "\n".join(lines) + "\n"
