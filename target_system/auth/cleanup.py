"""Auth's expired-token cleanup: drops expired email-verification and password-reset tokens, and counts it.

Runs every `cleanup_interval` seconds when CLEANUP_JOBS is on (auth/app.py), and on demand through
`POST /v1/auth/admin/cleanup` (auth/admin.py) whatever the switch says. Metrics:
`auth_cleanup_expired_tokens_total{service,table}`, `auth_cleanup_failed_total{service}`,
`auth_cleanup_duration_seconds{service}`, and the older `cleanup_deleted_total{service,job}`, kept so
that dashboards built on it still count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Histogram

from target_system.common.metrics import LATENCY_BUCKETS, ServiceMetrics
from target_system.common.sql import SqlStore

# Tables named here only (never from input): each has an `expires_at` column.
TOKEN_TABLES = ("email_verification_tokens", "password_reset_tokens")


@dataclass(frozen=True, slots=True)
class CleanupReport:
    deleted: dict[str, int]
    duration_s: float

    def to_json(self) -> dict[str, object]:
        return {"deleted": self.deleted, "total": sum(self.deleted.values()), "duration_s": self.duration_s}


def _count(status: str) -> int:
    """Rows a `DELETE n` command status reports."""
    return int(status.rsplit(" ", 1)[-1]) if status.startswith("DELETE") else 0


class TokenCleanup:
    """One pass deletes every expired token; a failing pass is counted, then raised to the caller."""

    def __init__(self, sql: SqlStore, metrics: ServiceMetrics) -> None:
        self._sql = sql
        self._service = metrics.service
        self._expired = metrics.counter(
            "auth_cleanup_expired_tokens_total", "Expired tokens deleted by the cleanup", ("service", "table")
        )
        self._failed = metrics.counter("auth_cleanup_failed_total", "Cleanup passes that failed")
        self._legacy = metrics.counter(
            "cleanup_deleted_total", "Rows removed by cleanup jobs", ("service", "job")
        )
        self._duration = Histogram(
            "auth_cleanup_duration_seconds",
            "Time one cleanup pass took",
            ("service",),
            buckets=LATENCY_BUCKETS,
            registry=metrics.registry,
        )

    async def run(self) -> CleanupReport:
        started = time.perf_counter()
        deleted: dict[str, int] = {}
        try:
            for table in TOKEN_TABLES:
                count = _count(await self._sql.execute(f"DELETE FROM {table} WHERE expires_at <= now()"))
                deleted[table] = count
                self._expired.labels(self._service, table).inc(count)
                self._legacy.labels(self._service, table).inc(count)
        except Exception:
            self._failed.labels(self._service).inc()
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._duration.labels(self._service).observe(elapsed)
        return CleanupReport(deleted, round(elapsed, 6))
