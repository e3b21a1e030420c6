"""Classifying one HTTP answer (or the lack of one) into a probe outcome, by the product rules."""

from __future__ import annotations

from collections.abc import Mapping

from chaosgate.scoring import ProbeOutcome

DEGRADED_HEADER = "x-secureconnect-degraded"
REJECTION_STATUSES = frozenset({429, 503})


def classify_http(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    expected_status: frozenset[int] = frozenset(),
    degraded_header: str = DEGRADED_HEADER,
) -> ProbeOutcome:
    """served: the expected 2xx; degraded: a 2xx with the degraded marker; rejected: 429/503 with an
    error body; anything else (other 4xx/5xx, an empty refusal) is an error."""
    ok = status in expected_status if expected_status else 200 <= status < 300
    if ok:
        lowered = {k.lower() for k in headers}
        return ProbeOutcome.DEGRADED if degraded_header.lower() in lowered else ProbeOutcome.SERVED
    if status in REJECTION_STATUSES and body.strip():
        return ProbeOutcome.REJECTED
    return ProbeOutcome.ERROR
