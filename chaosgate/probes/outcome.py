"""Classifying one HTTP answer (or the lack of one) into a probe outcome, by the product rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar

from chaosgate.samples import ProbeOutcome

# Why the last answer a probe classified was not a plain success ("HTTP 503: ..."). Each probe loop
# runs in its own task, hence its own context, so concurrent probes never see each other's notes.
PROBE_DETAIL: ContextVar[str] = ContextVar("probe_detail", default="")
REJECTION_STATUSES = frozenset({429, 503})


def classify_http(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    expected_status: frozenset[int] = frozenset(),
    degraded_header: str | None = None,
) -> ProbeOutcome:
    """served: the expected status (any 2xx when none is given); degraded: that, carrying the system's
    degraded marker (`degraded_header`; none given: no answer is degraded); rejected: 429/503 with an
    error body; anything else (other 4xx/5xx, an empty refusal) is an error."""
    ok = status in expected_status if expected_status else 200 <= status < 300
    if ok:
        marker = None
        if degraded_header:
            marker = next((v for k, v in headers.items() if k.lower() == degraded_header.lower()), None)
        if marker is None:
            return ProbeOutcome.SERVED
        PROBE_DETAIL.set(f"degraded: {marker}"[:200])
        return ProbeOutcome.DEGRADED
    PROBE_DETAIL.set(f"HTTP {status}: {body[:160].decode(errors='replace')}")
    if status in REJECTION_STATUSES and body.strip():
        return ProbeOutcome.REJECTED
    return ProbeOutcome.ERROR


def worst(outcomes: Iterable[ProbeOutcome]) -> ProbeOutcome:
    """The worst of several outcomes of one probe (served < degraded < rejected < error < hang)."""
    order = list(ProbeOutcome)
    return max(outcomes, key=order.index, default=ProbeOutcome.SERVED)
