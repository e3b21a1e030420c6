"""The fault phases: inject and observe (with the stop condition), then rollback, always, from the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

from chaosgate.errors import ChaosgateError, FaultError, RunError
from chaosgate.events import EventKind
from chaosgate.faults import ActiveFault, FaultController
from chaosgate.lifecycle.state import ScenarioRun
from chaosgate.result import FaultRecord, ScenarioResult
from chaosgate.samples import Phase
from chaosgate.scenario.models import Fault


@dataclass
class _Applied:
    """How many of a scenario's faults are applied at this moment."""

    count: int = 0


@dataclass(frozen=True)
class FaultWindow:
    """Inject and observe, then rollback (Phase.ROLLBACK), always."""

    phase: Phase = Phase.FAULT

    async def __call__(self, run: ScenarioRun) -> None:
        await fault_and_rollback(run)


async def fault_and_rollback(run: ScenarioRun) -> None:
    """Inject and observe; whatever happens there (an error, a signal), every fault is rolled back and
    the ledger's account of each is recorded."""
    result, clock = run.result, run.clock
    try:
        await inject_and_observe(run)
    finally:
        close_active_window(run)
        run.cpu.mark("fault_end", clock())
        run.enter(Phase.ROLLBACK)
        try:
            rollback(run.parts.controller)
        finally:
            faults_from_ledger(run.parts.controller, result)
        window_start = result.fault_window[0] if result.fault_window else clock()
        result.fault_window = (window_start, round(clock(), 3))
        if result.active_window is None and result.faults:
            run.note("no fault was verified in place within its window: judged over the fault window")


async def inject_and_observe(run: ScenarioRun) -> None:
    scenario, result, clock = run.scenario, run.result, run.clock
    run.enter(Phase.FAULT)
    run.cpu.mark("fault_start", clock())
    result.fault_window = (round(clock(), 3), round(clock(), 3))
    applied = _Applied()
    tasks = [
        asyncio.create_task(_one_fault(run, i, fault, applied)) for i, fault in enumerate(scenario.faults)
    ]
    window_end = clock() + scenario.fault_window * run.settings.time_scale
    interrupted = False
    try:
        while clock() < window_end:
            done = [t for t in tasks if t.done() and t.exception() is not None]
            if done:
                raise done[0].exception() or RunError("a fault failed")
            radius = blast_radius(run, since=clock() - 3.0)
            if radius > scenario.stop.max_blast_radius:
                run.parts.bus.emit(
                    EventKind.MESSAGE, scenario.name, text=f"stop condition: blast radius {radius:.0%}"
                )
                result.message = (
                    f"stopped early: blast radius {radius:.0%} > {scenario.stop.max_blast_radius:.0%}"
                )
                break
            await asyncio.sleep(0.25)
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        await _end_faults(run, tasks, interrupted)


async def _end_faults(run: ScenarioRun, tasks: list[asyncio.Task[None]], interrupted: bool) -> None:
    # Faults end on their own at the window's end; give them a moment before cancelling.
    # Interrupted: no waiting, so nothing more is applied and removal starts at once.
    pending = [t for t in tasks if not t.done()]
    if pending and not interrupted:
        await asyncio.wait(pending, timeout=run.settings.probe_timeout_s + 3)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, ChaosgateError):
            await task


async def _one_fault(run: ScenarioRun, index: int, fault: Fault, applied: _Applied) -> None:
    scale, controller, bus = run.settings.time_scale, run.parts.controller, run.parts.bus
    name, result = run.scenario.name, run.result
    await asyncio.sleep(fault.start * scale)
    fault_id = f"{name}-{index}-{int(time.time() * 1000) % 10**8}"
    deadline = time.time() + fault.duration * scale + run.settings.deadline_grace_s
    record = FaultRecord(fault_id=fault_id, injector=fault.injector, spec=fault.model_dump(mode="json"))
    result.faults.append(record)
    bus.emit(EventKind.FAULT, name, fault_id=fault_id, event="applying", spec=record.spec)
    started = time.monotonic()
    injecting = asyncio.ensure_future(
        asyncio.to_thread(controller.inject, fault, fault_id=fault_id, deadline=deadline)
    )
    try:
        active: ActiveFault = await asyncio.shield(injecting)
    except asyncio.CancelledError:
        # The thread goes on applying: wait for it, then take back what it applied, so a
        # signal mid-injection never leaves a fault behind the rollback.
        with contextlib.suppress(Exception):
            await asyncio.wait([injecting])
            await asyncio.to_thread(remove, controller, injecting.result())
        raise
    took = time.monotonic() - started
    applied.count += 1
    _open_active_window(run)
    bus.emit(
        EventKind.FAULT,
        name,
        fault_id=fault_id,
        event="verified",
        detail=active.history[-1][2],
        seconds=round(took, 3),
    )
    try:
        await asyncio.sleep(fault.duration * scale)
    finally:
        applied.count -= 1
        if applied.count == 0:  # the last fault applied is being removed
            close_active_window(run)
        await asyncio.to_thread(remove, controller, active)
        bus.emit(EventKind.FAULT, name, fault_id=fault_id, event="removed")


def _open_active_window(run: ScenarioRun) -> None:
    result, now = run.result, round(run.clock(), 3)
    if result.active_window is None:
        result.active_window = (now, math.inf)
    else:  # another fault is (or was) applied: the window spans from the first to the last one
        result.active_window = (min(now, result.active_window[0]), math.inf)


def close_active_window(run: ScenarioRun) -> None:
    result = run.result
    if result.active_window is not None and result.active_window[1] == math.inf:
        result.active_window = (result.active_window[0], round(run.clock(), 3))


def faults_from_ledger(controller: FaultController, result: ScenarioResult) -> None:
    """The ledger on disk is the truth of what happened to each fault, whoever removed it."""
    history = {f.fault_id: f.history for f in controller.ledger.replay()}
    for record in result.faults:
        record.events = [
            (event.value, round(at - result.started_at, 3), detail)
            for event, at, detail in history.get(record.fault_id, [])
        ]


def remove(controller: FaultController, active: ActiveFault) -> None:
    with contextlib.suppress(FaultError):  # the rollback after the phase retries and reports
        controller.remove(active)


def rollback(controller: FaultController) -> None:
    problems = controller.rollback()
    if problems:
        raise FaultError("rollback incomplete: " + "; ".join(problems))


def blast_radius(run: ScenarioRun, *, since: float) -> float:
    """The share of the features the fault should not touch that mostly failed since `since`."""
    unaffected = [f for f in run.parts.features if f not in run.result.affected]
    if not unaffected:
        return 0.0
    bad = 0
    for feature in unaffected:
        recent = run.log.since(feature, since)
        if recent and sum(1 for r in recent if not r.outcome.ok) > len(recent) / 2:
            bad += 1
    return bad / len(unaffected)
