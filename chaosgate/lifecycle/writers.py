"""The workload and verify phases: writers started before the fault, read back after recovery."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from chaosgate.errors import RunError
from chaosgate.lifecycle.state import ScenarioRun
from chaosgate.result import WRITER_PHASES, WriterRecord
from chaosgate.samples import Phase
from chaosgate.workload import WriterCheck, WriterLoop


@dataclass(frozen=True)
class Workload:
    """The writers start before the fault (their writes are counted per phase)."""

    phase: Phase = Phase.WORKLOAD

    async def __call__(self, run: ScenarioRun) -> None:
        run.writers = await start_writers(run)


@dataclass(frozen=True)
class Verify:
    """Every writer read back after recovery."""

    phase: Phase = Phase.VERIFY

    async def __call__(self, run: ScenarioRun) -> None:
        run.enter(self.phase)
        run.checks = await verify(run, run.writers, run.rolled_back_at)


async def start_writers(run: ScenarioRun) -> list[WriterLoop]:
    """Start the scenario's writers; the ephemeral ones (sessions opened before the fault) stop at
    once, to be checked after recovery."""
    writers = _writers(run)
    run.enter(Phase.WORKLOAD)
    for writer in writers:
        writer.start()
    await asyncio.sleep(min(1.0, run.settings.probe_interval_s * 2))
    for writer in writers:
        if writer.writer.ephemeral:
            await writer.stop()
    return writers


def _writers(run: ScenarioRun) -> list[WriterLoop]:
    """The scenario's writers (chaos.yaml's, declared or the plugin's: the loader checked the
    names), plus every ephemeral one (sessions opened before the fault must outlive it)."""
    plugin, workload = run.parts.plugin, run.scenario.workload
    names = list(workload.writers)
    names += [n for n, f in plugin.writers.items() if n not in names and getattr(f, "ephemeral", False)]
    loops = []
    for name in names:
        factory = plugin.writers.get(name)
        if factory is None:
            raise RunError(f"workload writer {name!r} is not in chaos.yaml's writers")
        limit = run.settings.writer_limit
        loops.append(WriterLoop(name, factory(), run.ctx, rate=workload.rate, limit=limit, clock=run.clock))
    return loops


async def verify(
    run: ScenarioRun, writers: list[WriterLoop], rolled_back_at: float
) -> dict[str, WriterCheck]:
    """Read every writer back; its writes are counted per phase (before, fault, recovery: result.json's
    WRITER_PHASES)."""
    for writer in writers:
        await writer.stop()
    lo, hi = run.judged_window() or (rolled_back_at, rolled_back_at)
    windows = dict(zip(WRITER_PHASES, [(0.0, lo), (lo, hi), (hi, math.inf)], strict=True))
    checks = {}
    for writer in writers:
        check = await writer.check(timeout_s=run.settings.read_back_timeout_s, windows=windows)
        checks[writer.name] = check
        if check.cannot_tell:
            run.note(f"{writer.name}: cannot tell what was lost ({check.cannot_tell}): not counted as lost")
        elif writer.read_error:
            run.note(f"{writer.name} could not be read back ({writer.read_error}): counted as lost")
    return checks


def writer_record(check: WriterCheck) -> WriterRecord:
    c = check.counts
    return WriterRecord(
        attempted=c.attempted,
        acknowledged=c.acknowledged,
        lost=c.lost,
        recovered=c.recovered,
        unexpected=c.unexpected,
        ephemeral=c.ephemeral,
        phases=dict(check.phases),
        lost_ids=list(check.lost_ids),
        recovered_ids=list(check.recovered_ids),
        cannot_tell=check.cannot_tell,
    )
