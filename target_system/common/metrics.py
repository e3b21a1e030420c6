"""Prometheus metrics of one service, on a registry of its own (several apps may live in one process)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Buckets tuned for an in-process stack: most answers take milliseconds, faults take seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The registry of one service app plus the metrics every service has.

    Metrics shared by several components (e.g. `redis_retry_total`, used by every Redis
    wrapper of a service) are created once through `counter`/`gauge`, which return the existing
    metric when asked again for the same name.
    """

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self.http_requests = self.counter(
            "http_requests_total", "HTTP requests answered", ("service", "method", "route", "status")
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ("service", "method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.unhandled_errors = self.counter(
            "http_unhandled_exceptions_total",
            "Requests that ended in an unexpected exception",
            ("service", "route"),
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ("service",)) -> Counter:
        """The counter `name` (give the full name, `..._total`), created on first use."""
        existing = self._counters.get(name)
        if existing is None:
            base = name.removesuffix("_total")
            existing = Counter(base, documentation, tuple(labels), registry=self.registry)
            self._counters[name] = existing
        return existing

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ("service",)) -> Gauge:
        """The gauge `name`, created on first use."""
        existing = self._gauges.get(name)
        if existing is None:
            existing = Gauge(name, documentation, tuple(labels), registry=self.registry)
            self._gauges[name] = existing
        return existing
