"""The chat service's own Prometheus metrics, on the service's registry and labelled with its name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client import Counter, Gauge

from target_system.common.metrics import ServiceMetrics


class DropReason(StrEnum):
    """Why the write-behind gave up on an acknowledged message (the `reason` label)."""

    QUEUE_FULL = "queue_full"
    STORE_FAILED = "store_failed"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class ChatMetrics:
    """Children already bound to `service=<name>`, so hot paths only call `inc()`."""

    messages: Counter
    store_timeouts: Counter
    store_retries: Counter
    history_cache_hits: Counter
    publish_failures: Counter
    ws_connections: Gauge
    ws_rejected: Counter
    ws_dropped: Counter
    persist_queued: Gauge
    persist_dropped: Mapping[DropReason, Counter]

    @classmethod
    def create(cls, service: ServiceMetrics) -> ChatMetrics:
        name = service.service
        dropped = service.counter(
            "chat_message_persist_dropped_total",
            "Acknowledged messages the write-behind never stored (PERSIST_FIRST off)",
            ("service", "reason"),
        )

        def counter(metric: str, doc: str) -> Counter:
            return service.counter(metric, doc).labels(service=name)

        return cls(
            messages=counter("chat_messages_total", "Messages stored (first sends, not retries)"),
            store_timeouts=counter(
                "chat_message_store_timeouts_total", "Message-store calls that hit their timeout"
            ),
            store_retries=counter(
                "chat_message_store_retries_total", "Message-store calls retried after a store error"
            ),
            history_cache_hits=counter(
                "chat_history_cache_hits_total", "Reads answered from the in-process recent-messages cache"
            ),
            publish_failures=counter(
                "pubsub_publish_failures_total", "Fan-out publishes to Redis that failed"
            ),
            ws_connections=service.gauge("ws_connections", "Open chat WebSockets in this process").labels(
                service=name
            ),
            ws_rejected=counter(
                "ws_rejected_total", "WebSockets refused by the per-process cap (close 1013)"
            ),
            ws_dropped=counter(
                "ws_slow_consumer_drops_total", "WebSockets closed because their send queue overflowed"
            ),
            persist_queued=service.gauge(
                "chat_message_persist_queue", "Acknowledged messages waiting for the write-behind"
            ).labels(service=name),
            persist_dropped={reason: dropped.labels(service=name, reason=reason) for reason in DropReason},
        )
