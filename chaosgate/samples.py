"""What a run observes: the lifecycle's phases, probe outcomes, one sample type from probe to score."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema


class Phase(StrEnum):
    """One scenario's lifecycle (ARCHITECTURE.md "One run of one scenario"), in order. The values are
    what result.json's samples and the journal's events carry."""

    SETUP = "setup"  # the probes' own setup (users, conversations), the faults prepared
    LOAD = "load"  # the steady load starting
    SETTLE = "settle"  # a steady window that was not steady: tried again
    STEADY = "steady"  # the baseline every verdict compares against
    WORKLOAD = "workload"  # writers started before the fault
    FAULT = "fault"  # inject and observe
    ROLLBACK = "rollback"
    RECOVER = "recover"
    RESTART = "restart"  # services that did not recover, restarted by the harness
    VERIFY = "verify"  # the writers read back
    SCORE = "score"


class ProbeOutcome(StrEnum):
    """How one probe sample went."""

    SERVED = "served"  # a normal 2xx
    DEGRADED = "degraded"  # a 2xx carrying the service's degraded marker
    REJECTED = "rejected"  # a clean refusal (429/503 with an error body) within the probe timeout
    ERROR = "error"  # 500, reset, malformed
    HANG = "hang"  # no answer within the probe timeout

    @property
    def ok(self) -> bool:
        return self in (ProbeOutcome.SERVED, ProbeOutcome.DEGRADED)


# One observation of one probe target, as the probe took it, the scorer reads it and result.json keeps
# it (the name and the lack of a docstring are the shipped schema's: a docstring would be its description).
class SampleRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str  # a feature, or `health:<component>`
    t: float  # seconds since the scenario started (when the probe began)
    # result.json's schema says string: a phase of an older run still reads
    phase: Annotated[Phase, WithJsonSchema({"title": "Phase", "type": "string"})]
    outcome: ProbeOutcome
    latency_ms: float
    detail: str = ""

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000

    @property
    def end(self) -> float:
        """When the answer came (or the probe gave up), on the scenario's clock."""
        return self.t + self.latency_s


@dataclass(frozen=True)
class FeatureStats:
    """Success share and p95 latency of a set of samples."""

    success: float
    p95_s: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[SampleRecord]) -> FeatureStats:
        if not samples:
            return cls(success=0.0, p95_s=0.0, count=0)
        ok = sum(1 for s in samples if s.outcome.ok)
        return cls(
            success=ok / len(samples),
            p95_s=percentile([s.latency_s for s in samples], 95),
            count=len(samples),
        )

    def healthy_against(self, baseline: FeatureStats) -> bool:
        """The isolation rule: success >= 99% of baseline and p95 <= max(3x baseline, baseline + 250 ms)."""
        if self.count == 0:
            return False
        limit = max(3 * baseline.p95_s, baseline.p95_s + 0.250)
        return self.success >= 0.99 * baseline.success and self.p95_s <= limit


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]
