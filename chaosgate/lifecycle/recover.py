"""The recover phase: how long until every probe is back at baseline; a restart of what never came back."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from chaosgate.events import EventKind
from chaosgate.lifecycle.control import recovery_noise
from chaosgate.lifecycle.state import HEALTH, ScenarioRun
from chaosgate.probes.control import CONTROL
from chaosgate.samples import Phase, ProbeOutcome, SampleRecord


@dataclass(frozen=True)
class Recover:
    """From rollback until every probe is back at baseline, or the recovery timeout; then a restart
    (Phase.RESTART) of what never came back, where the harness can."""

    phase: Phase = Phase.RECOVER

    async def __call__(self, run: ScenarioRun) -> None:
        run.enter(self.phase)
        run.rolled_back_at = run.clock()
        run.result.recovery_s, run.not_back = await await_recovery(run, rolled_back_at=run.rolled_back_at)
        if run.not_back:
            run.noise = recovery_noise(run, run.rolled_back_at)
            await restart_not_recovered(run, run.not_back)


async def await_recovery(run: ScenarioRun, *, rolled_back_at: float) -> tuple[float | None, list[str]]:
    """Seconds from rollback until every probe is back at baseline (None past the timeout), and
    the probes not back when it ran out. The control is the machine's, not the target's: left out."""
    log, clock = run.log, run.clock
    targets = sorted({r.target for r in log.records if r.target != CONTROL})
    limits = {t: run.latency_limit(t) for t in targets}
    deadline = rolled_back_at + run.recovery_timeout()
    while clock() < deadline:
        starts = [back_since(run, t, limits[t], rolled_back_at) for t in targets]
        if all(start is not None for start in starts):
            latest = max((x for x in starts if x is not None), default=rolled_back_at)
            return round(max(0.0, latest - rolled_back_at), 1), []
        await asyncio.sleep(0.1)
    return None, [t for t in targets if back_since(run, t, limits[t], rolled_back_at) is None]


def back_since(run: ScenarioRun, target: str, limit_s: float, since: float) -> float | None:
    """When `target`'s trailing run of baseline-like samples began, if it is long enough to count."""
    tail = good_tail(run.log.since(target, since), limit_s)
    s = run.settings
    if len(tail) < s.recovery_streak or tail[-1].t - tail[0].t < s.recovery_span_s:
        return None
    return tail[0].t


def good_tail(records: list[SampleRecord], limit_s: float) -> list[SampleRecord]:
    """The trailing run of served (not degraded) samples, if it looks like baseline: its median
    latency within the limit (one slow sample on a busy machine does not mean "not recovered")."""
    tail = []
    for record in reversed(records):
        if record.outcome is not ProbeOutcome.SERVED:
            break
        tail.append(record)
    tail.reverse()
    if tail and statistics.median(r.latency_ms for r in tail) / 1000 > limit_s:
        return []
    return tail


async def restart_not_recovered(run: ScenarioRun, not_back: list[str]) -> None:
    """A metastable failure (still broken after the fault is gone) is a cascade by persistence;
    the next scenario must not inherit it. Where the harness can, it restarts the services on the
    routes of what did not come back (a stack it did not start is left as it is, and said so)."""
    parts, result = run.parts, run.result
    topology = parts.topology
    services = sorted(
        {
            component
            for target in not_back
            for component in (
                {target.removeprefix(HEALTH)}
                if target.startswith(HEALTH)
                else topology.feature_dependencies(target)
            )
            if component in topology.services
        }
    )
    note = f"not back at baseline {run.recovery_timeout():g}s after rollback: {', '.join(not_back)}"
    if parts.restart is None or not services:
        run.note(note)
        return
    parts.bus.emit(EventKind.MESSAGE, run.scenario.name, text=f"{note}; restarting {', '.join(services)}")
    result.restarted = await asyncio.to_thread(parts.restart, services)
    run.note(note + f"; restarted {', '.join(result.restarted)}")
    run.enter(Phase.RESTART)
    await asyncio.sleep(run.settings.settle_s / 4)  # the probes see the restarted services
