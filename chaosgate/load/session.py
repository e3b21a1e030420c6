"""A scenario's Locust workload: started at the workload phase, stopped after recovery, cut into phases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import TracebackType

from chaosgate.load.process import LocustRun
from chaosgate.load.stats import cut_phases, read_totals
from chaosgate.result import LoadRecord, ScenarioResult
from chaosgate.scenario.models import Load

STARTUP_BOUND_S = 60.0  # Locust's own start plus user registration, inside its --run-time bound


class LoadSession:
    """Async context: whatever happens, Locust is stopped on exit and `result.load` is filled."""

    def __init__(
        self,
        load: Load,
        result: ScenarioResult,
        *,
        host: str,
        out_dir: Path,
        workers: int,
        expected_s: float,
    ) -> None:
        """`expected_s`: how long the scenario should still take; Locust stops itself well after it."""
        self.result = result
        self.locust = LocustRun(
            host=host,
            users=load.users,
            spawn_rate=load.spawn_rate,
            run_time_s=int(STARTUP_BOUND_S + expected_s + 30),
            out_dir=out_dir,
            workers=workers,
        )
        self.record = LoadRecord(users=load.users, spawn_rate=load.spawn_rate, workers=workers)
        self.baseline_from: float | None = None

    async def __aenter__(self) -> LoadSession:
        return self

    async def begin(self, baseline_s: float) -> None:
        """Start Locust, wait until every user runs, then let a baseline window of load pass."""
        self.locust.start()
        await self.locust.ready(timeout_s=STARTUP_BOUND_S)
        self.baseline_from = time.time()
        await asyncio.sleep(baseline_s)

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
        phases: list[tuple[str, float, float]] = []
        if self.baseline_from is not None and self.result.fault_window is not None:
            fault_from, fault_to = (origin + t for t in self.result.fault_window)
            phases = [
                ("baseline", self.baseline_from, fault_from),
                ("fault", fault_from, fault_to),
                ("recovery", fault_to, stopped),
            ]
        record.phases = cut_phases(self.locust.history(), phases, origin=origin)
        record.totals = read_totals(self.locust.totals_path, stopped - started)
        if not record.totals:
            record.message = f"Locust wrote no stats; see {self.locust.out_dir}"
        return record

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await asyncio.shield(self.finish())
        except asyncio.CancelledError:
            self.locust.stop()  # interrupted: Locust must not outlive the run
            raise
