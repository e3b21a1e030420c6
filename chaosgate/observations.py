"""What the runner measured for one scenario, as the scorer needs it: components' health, writers' counts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from chaosgate.samples import SampleRecord
from chaosgate.scenario.models import Outcome


class Health(StrEnum):
    """A component's worst state during the fault (and after the recovery timeout)."""

    OK = "ok"
    DEGRADED = "degraded"  # answered, but slowly or not ready
    DOWN = "down"  # liveness hang/error, process died, or not back after the recovery timeout


@dataclass(frozen=True)
class WriterCounts:
    """Jepsen set-checker counts for one ledger writer."""

    attempted: int
    acknowledged: int
    lost: int  # acknowledged but not read back
    recovered: int  # read back though never acknowledged
    unexpected: int  # read back but never attempted
    ephemeral: bool = False  # sessions, presence: counted apart

    @classmethod
    def check(
        cls, *, attempted: set[str], acknowledged: set[str], read_back: set[str], ephemeral: bool = False
    ) -> WriterCounts:
        return cls(
            attempted=len(attempted),
            acknowledged=len(acknowledged),
            lost=len(acknowledged - read_back),
            recovered=len(read_back & (attempted - acknowledged)),
            unexpected=len(read_back - attempted),
            ephemeral=ephemeral,
        )


@dataclass(frozen=True)
class Observations:
    """Everything the runner measured for one scenario, as the scorer needs it."""

    target: str
    broken: frozenset[str]  # features that hard-depend on the target: they may fail, but must fail well
    baseline: Mapping[str, Sequence[SampleRecord]]  # feature -> steady-state samples (under the same load)
    during: Mapping[str, Sequence[SampleRecord]]  # feature -> samples wholly inside the active fault window
    health: Mapping[str, Health]  # component (other than target) -> worst state
    writers: Mapping[str, WriterCounts]
    expect: Mapping[str, Outcome]
    recovery_s: float | None  # None: not back to baseline within the timeout
    recovery_target_s: float
    recovery_timeout_s: float
    soft: frozenset[str] = frozenset()  # must-survive features that soft-depend on the target
    writer_covers: Mapping[str, frozenset[str]] = field(default_factory=dict)  # writer -> features
    fast_fail_s: float = math.inf  # a rejection slower than this is an error, not a clean failure
    # rules v3
    apart: frozenset[str] = frozenset()  # features with no dependency path to the target at all
    on_path: frozenset[str] = frozenset()  # components that carry the fault (the target's callers)
    routes: Mapping[str, str] = field(default_factory=dict)  # feature/component -> how harm reaches it
    not_recovered: tuple[str, ...] = ()  # features not back at baseline when recovery timed out
    restarted: tuple[str, ...] = ()  # services the harness restarted to bring them back
    saturated: bool = False  # the control slowed in the fault window: latency-only verdicts are void
    # The control was still slow when recovery timed out: "not back" may be the machine, not the target,
    # so persistence and recovery are void there (inconclusive), never a cascade or a recovery of 0.
    recovery_saturated: bool = False
    # Saturated so badly that the control itself took a sizeable part of the probe timeout: then a
    # hang (no answer in time) may be the machine's too. A control at 80 ms explains no 2 s hang.
    hangs_void: bool = False
    # The harness could not deliver the fault in full (an injector said it fell short): how the broken
    # features failed rests on a fault that was not there, so fail behaviour is void too.
    short: bool = False
    fault_writes: Mapping[str, int] = field(default_factory=dict)  # writer -> writes attempted in the fault
    cannot_tell: Mapping[str, str] = field(default_factory=dict)  # writer -> why its read-back is blind

    @property
    def must_survive(self) -> list[str]:
        return sorted(f for f in self.baseline if f not in self.broken)
