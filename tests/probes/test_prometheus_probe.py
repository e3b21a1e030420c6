"""The Prometheus query probe samples PromQL through prometheus-api-client against a server speaking
Prometheus's HTTP API (no Prometheus server can be installed here), and survives one that is down."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from chaosgate.observe import Clock
from chaosgate.probes.prometheus import PrometheusSampler


class FakePrometheus(BaseHTTPRequestHandler):
    """`GET /api/v1/query`: an instant vector whose value is the number of the query's requests."""

    queries: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/api/v1/query":
            self.send_error(404)
            return
        query = parse_qs(url.query)["query"][0]
        self.queries.append(query)
        series = [
            {"metric": {"service": name}, "value": [1.0, str(len(self.queries))]} for name in ("auth", "chat")
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prometheus() -> Iterator[str]:
    FakePrometheus.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_samples_each_query_and_sums_the_series(prometheus: str) -> None:
    sampler = PrometheusSampler(
        prometheus, {"breakers_open": "sum(circuit_breaker_state)"}, Clock(), interval_s=0.05
    )

    async def run() -> None:
        async with sampler:
            await asyncio.sleep(0.4)

    asyncio.run(run())
    assert FakePrometheus.queries[0] == "sum(circuit_breaker_state)"
    assert len(sampler.records) >= 3
    first = sampler.records[0]
    assert first.name == "breakers_open" and first.value == 2.0  # two series, each answering "1"
    assert [r.t for r in sampler.records] == sorted(r.t for r in sampler.records)


def test_an_unreachable_prometheus_gives_gaps_not_errors() -> None:
    sampler = PrometheusSampler("http://127.0.0.1:9", {"q": "up"}, Clock(), interval_s=0.05)
    assert math.isnan(sampler.sample("q"))  # a missing Prometheus must not stop a run
