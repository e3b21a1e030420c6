"""Push's Prometheus metrics, created once on the service's registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from target_system.common.metrics import ServiceMetrics


@dataclass(frozen=True, slots=True)
class PushMetrics:
    service: str
    notifications: Counter  # one per device a notification was meant for
    failed: Counter  # {reason}: timeout, unavailable, rate_limited, unreachable, rejected, lookup
    deactivated: Counter
    retries: Counter
    outbox_depth: Gauge  # notifications kept, waiting for the provider (PUSH_OUTBOX)
    outbox_kept: Counter
    outbox_sent: Counter  # kept notifications the provider finally accepted
    outbox_dropped: Counter  # {reason}: see `DropReason` (outbox.py)

    @classmethod
    def create(cls, metrics: ServiceMetrics) -> PushMetrics:
        return cls(
            service=metrics.service,
            notifications=metrics.counter(
                "push_notifications_total", "Notifications attempted (one per target device)"
            ),
            failed=metrics.counter(
                "push_notifications_failed_total",
                "Notifications the provider did not accept, by reason",
                ("service", "reason"),
            ),
            deactivated=metrics.counter(
                "push_tokens_deactivated_total", "Device tokens deactivated after the provider said invalid"
            ),
            retries=metrics.counter("push_provider_retries_total", "Provider calls retried (PUSH_TIMEOUTS)"),
            outbox_depth=metrics.gauge("push_outbox_depth", "Notifications kept in the outbox (PUSH_OUTBOX)"),
            outbox_kept=metrics.counter(
                "push_outbox_kept_total", "Notifications the provider refused, kept in the outbox"
            ),
            outbox_sent=metrics.counter(
                "push_outbox_sent_after_retry_total", "Kept notifications the provider accepted later"
            ),
            outbox_dropped=metrics.counter(
                "push_outbox_dropped_total",
                "Refused notifications given up, by reason (no_outbox: PUSH_OUTBOX off)",
                ("service", "reason"),
            ),
        )
