"""The video service's own Prometheus metrics, on the service's registry and labelled with its name."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from target_system.common.metrics import LATENCY_BUCKETS, ServiceMetrics


@dataclass(frozen=True, slots=True)
class VideoMetrics:
    """Children already bound to `service=<name>`, so hot paths only call `inc()`."""

    calls_created: Counter
    signals_relayed: Counter
    signals_refused: Counter
    notify_failures: Counter
    ws_connections: Gauge
    ws_rejected: Counter
    cleanup_stale_calls: Counter
    cleanup_failed: Counter
    cleanup_duration: Histogram

    @classmethod
    def create(cls, service: ServiceMetrics) -> VideoMetrics:
        name = service.service

        def counter(metric: str, doc: str) -> Counter:
            return service.counter(metric, doc).labels(service=name)

        duration = Histogram(
            "video_cleanup_duration_seconds",
            "Time one stale-call cleanup run took",
            ("service",),
            buckets=LATENCY_BUCKETS,
            registry=service.registry,
        )
        return cls(
            calls_created=counter("video_calls_created_total", "Calls created (first creates, not retries)"),
            signals_relayed=counter("video_signals_relayed_total", "Signaling messages published to peers"),
            signals_refused=counter(
                "video_signals_refused_total", "Signaling messages refused (not a participant, bad input)"
            ),
            notify_failures=counter(
                "video_notify_failures_total", "Call events that could not be published to participants"
            ),
            ws_connections=service.gauge(
                "ws_connections", "Open signaling WebSockets in this process"
            ).labels(service=name),
            ws_rejected=counter(
                "ws_rejected_total", "WebSockets refused by the per-process cap (close 1013)"
            ),
            cleanup_stale_calls=counter(
                "video_cleanup_stale_calls_total", "Calls the cleanup job ended because they were stale"
            ),
            cleanup_failed=counter("video_cleanup_failed_total", "Cleanup runs that failed"),
            cleanup_duration=duration.labels(service=name),
        )
