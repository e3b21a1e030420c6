"""Observation: one loop per probe, sampling on its own cadence so a hanging probe never delays another."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from chaosgate.events import EventBus, EventKind
from chaosgate.probes.base import Probe, ProbeContext, timed
from chaosgate.samples import Phase, SampleRecord


class Clock:
    """Seconds since the scenario started (monotonic)."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.origin


class SampleLog:
    """Every sample of a scenario, tagged with the phase it started in."""

    def __init__(self, clock: Clock, bus: EventBus, scenario: str) -> None:
        self.clock = clock
        self.bus = bus
        self.scenario = scenario
        self.phase = Phase.STEADY
        self.records: list[SampleRecord] = []

    def add(self, record: SampleRecord) -> None:
        self.records.append(record)
        self.bus.emit(
            EventKind.SAMPLE,
            self.scenario,
            target=record.target,
            outcome=record.outcome.value,
            latency_ms=record.latency_ms,
            phase=record.phase,
        )

    def samples(self, target: str, phase: Phase) -> list[SampleRecord]:
        return [r for r in self.records if r.target == target and r.phase is phase]

    def within(self, target: str, lo: float, hi: float) -> list[SampleRecord]:
        """`target`'s samples wholly inside [lo, hi] (begun and answered)."""
        return [r for r in self.records if r.target == target and r.t >= lo and r.end <= hi]

    def since(self, target: str, t: float) -> list[SampleRecord]:
        return [r for r in self.records if r.target == target and r.t >= t]


class ProbeLoops:
    """Runs every probe in its own task until the context exits."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        ctx: ProbeContext,
        log: SampleLog,
        interval_s: Callable[[], float],
    ) -> None:
        self.probes = probes
        self.ctx = ctx
        self.log = log
        self.interval_s = interval_s
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ProbeLoops:
        self._tasks = [
            asyncio.create_task(self._loop(t, p), name=f"probe {t}") for t, p in self.probes.items()
        ]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, target: str, probe: Probe) -> None:
        while True:
            sample = await timed(target, probe, self.ctx, self.log.clock, phase=self.log.phase)
            self.log.add(sample)
            await asyncio.sleep(max(0.0, self.interval_s() - sample.latency_s))
