"""A scenario's Locust workload: started at the workload phase, stopped after recovery, cut into phases."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path
from types import TracebackType

from chaosgate.load.plan import LoadPlan
from chaosgate.load.process import LocustRun
from chaosgate.load.stats import cut_phases, read_totals
from chaosgate.result import LOAD_LABELS, LoadRecord, ScenarioResult
from chaosgate.samples import Phase

STARTUP_BOUND_S = 60.0  # Locust's own start plus user setup (registration), inside its --run-time bound
SPAWN_S = 2.0  # users spawn over this long: their setup (password hashing) does not land at once


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the harness process
    return usage.ru_utime + usage.ru_stime


class LoadSession:
    """Async context: whatever happens, Locust is stopped on exit and `result.load` is filled.

    `await begin()` starts the open-loop load and returns once every user runs; `begin_steady()` marks
    the start of the steady window; the fault window comes from `result.fault_window`; `await finish()`.
    """

    def __init__(
        self,
        plan: LoadPlan,
        result: ScenarioResult,
        *,
        host: str,
        out_dir: Path,
        workers: int,
        expected_s: float,
    ) -> None:
        """`expected_s`: how long the scenario should still take; Locust stops itself well after it."""
        self.result = result
        spawn_rate = round(max(1.0, plan.users / SPAWN_S), 2)
        self.locust = LocustRun(
            host=host,
            users=plan.users,
            spawn_rate=spawn_rate,
            run_time_s=int(STARTUP_BOUND_S + expected_s + 30),
            out_dir=out_dir,
            workers=workers,
            locustfile=plan.locustfile,
            environment=plan.environment(processes=max(1, workers)),
        )
        self.record = LoadRecord(
            users=plan.users,
            spawn_rate=spawn_rate,
            workers=workers,
            mode="open-loop",
            target_rps=plan.rate_rps,
            fraction=plan.fraction,
            capacity_rps=plan.capacity_rps,
            max_in_flight=plan.max_in_flight,
        )
        self.steady_from: float | None = None
        self._began: tuple[float, float] | None = None  # (wall, harness CPU seconds) at begin()

    async def __aenter__(self) -> LoadSession:
        return self

    async def begin(self) -> None:
        """Start Locust and wait (bounded) until every user runs and arrivals flow."""
        self._began = (time.time(), _own_cpu_s())
        self.locust.start()
        await self.locust.ready(timeout_s=STARTUP_BOUND_S)

    def begin_steady(self) -> float:
        """The steady window starts now (its load figures are the steady phase's); returns the time."""
        self.steady_from = time.time()
        return self.steady_from

    async def finish(self) -> None:
        """Stop Locust (idempotent) and record its figures by phase."""
        if self.result.load is not None:
            return
        await asyncio.to_thread(self.locust.stop)
        self.result.load = self._figures()

    def _figures(self) -> LoadRecord:
        record = self.record.model_copy()
        started, stopped = self.locust.started_at, self.locust.stopped_at
        if not started:
            return record.model_copy(update={"message": "Locust was not started"})
        origin = self.result.started_at
        phases: list[tuple[Phase, float, float]] = []
        if self.steady_from is not None and self.result.fault_window is not None:
            fault_from, fault_to = (origin + t for t in self.result.fault_window)
            phases = [
                (Phase.STEADY, self.steady_from, fault_from),
                (Phase.FAULT, fault_from, fault_to),
                (Phase.RECOVER, fault_to, stopped),
            ]
        labelled = [(LOAD_LABELS[phase], start, end) for phase, start, end in phases]  # result.json's names
        record.phases = cut_phases(self.locust.history(), labelled, origin=origin)
        record.totals = read_totals(self.locust.totals_path, stopped - started)
        record.harness_cpu_share = self._cpu_share()
        if not record.totals:
            record.message = f"Locust wrote no stats; see {self.locust.out_dir}"
        return record

    def _cpu_share(self) -> float | None:
        """(harness CPU + Locust CPU) / (wall × CPUs) over the session: how much the load tool itself
        took from a machine it shares with the stack."""
        if self._began is None:
            return None
        wall_from, cpu_from = self._began
        wall = time.time() - wall_from
        if wall <= 0:
            return None
        used = (_own_cpu_s() - cpu_from) + self.locust.cpu_s
        return round(used / (wall * (os.cpu_count() or 1)), 4)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await asyncio.shield(self.finish())
        except asyncio.CancelledError:
            self.locust.stop()  # interrupted: Locust must not outlive the run
            raise
