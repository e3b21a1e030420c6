"""The phases before any fault: setup, the steady load, and the steady window every verdict compares with."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaosgate.errors import ChaosgateError
from chaosgate.lifecycle.state import Parts, ScenarioRun, SteadyStateError
from chaosgate.load.session import LoadSession
from chaosgate.observe import Clock, SampleLog
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.prometheus import PrometheusSampler
from chaosgate.result import ScenarioResult
from chaosgate.samples import FeatureStats, Phase
from chaosgate.scenario.models import Scenario


async def setup_probes(parts: Parts, ctx: ProbeContext) -> None:
    """The plugin's setup (users, conversation...), retried while the system settles (a previous
    scenario's breaker may still be open); not steady if it never succeeds within settle_s."""
    give_up = time.monotonic() + parts.settings.settle_s
    while True:
        try:
            async with asyncio.timeout(30):
                await parts.plugin.setup(ctx)
            return
        except (ChaosgateError, httpx.HTTPError, TimeoutError) as exc:
            if time.monotonic() + 1.0 > give_up:
                raise SteadyStateError(f"the system is not steady: probe setup failed: {exc}") from exc
            await asyncio.sleep(1.0)


def load_session(parts: Parts, scenario: Scenario, result: ScenarioResult) -> LoadSession | None:
    """The scenario's steady load: the run's plan at the scenario's own share of the capacity, if any."""
    plan = parts.load
    if plan is None:
        return None
    if scenario.workload.load is not None:  # the scenario's own share of the capacity
        fraction = scenario.workload.load.fraction
        if fraction <= 0:
            return None
        if plan.capacity_rps:
            rate = round(plan.capacity_rps * fraction, 1)
            plan = dataclasses.replace(
                plan,
                fraction=fraction,
                rate_rps=rate,
                max_in_flight=max(1, math.ceil(rate * plan.request_timeout_s)),
            )
    s = parts.settings
    out_dir = parts.artifacts or Path(tempfile.mkdtemp(prefix="chaosgate-load-"))
    return LoadSession(
        plan,
        result,
        host=parts.gateway_url,
        out_dir=out_dir / f"locust-{scenario.name}-{int(result.started_at)}",
        workers=s.locust_workers,
        expected_s=s.settle_s
        + scenario.steady_state.window * s.time_scale
        + scenario.fault_window * s.time_scale
        + scenario.recovery.timeout_at(s.time_scale),
    )


def prometheus(parts: Parts, clock: Clock) -> PrometheusSampler | None:
    probes = parts.topology.probes
    if not probes.prometheus or not probes.queries:
        return None
    return PrometheusSampler(
        probes.prometheus, probes.queries, clock, interval_s=parts.settings.probe_interval_s
    )


@dataclass(frozen=True)
class StartLoad:
    """The steady load starts before the steady window: the baseline is measured under it."""

    load: LoadSession
    phase: Phase = Phase.LOAD

    async def __call__(self, run: ScenarioRun) -> None:
        run.enter(self.phase)
        await self.load.begin()
        self.load.begin_steady()


@dataclass(frozen=True)
class Steady:
    """One steady window of `features` (the probes other than components' health), or abort."""

    features: list[str]
    phase: Phase = Phase.STEADY

    async def __call__(self, run: ScenarioRun) -> None:
        run.enter(self.phase)
        await await_steady(run, self.features)


async def await_steady(run: ScenarioRun, features: list[str]) -> None:
    """Wait for one steady window (a previous scenario may still be settling), up to settle_s.
    The window holds at least `min_steady_samples` per probe: a p95 of a handful of samples is
    no footing for a latency verdict."""
    s, log, cpu = run.settings, run.log, run.cpu
    floor = s.min_steady_samples * s.probe_interval_s
    window = max(1.0, floor, run.scenario.steady_state.window * s.time_scale)
    give_up = log.clock() + s.settle_s + window
    while True:
        cpu.mark("steady_start", log.clock())
        await asyncio.sleep(window)
        cpu.mark("steady_end", log.clock())
        try:
            check_steady(log, features, s.steady_min_success)
            return
        except SteadyStateError:
            if log.clock() + window > give_up:
                raise
        for record in log.records:  # not the baseline: only a steady window is
            if record.phase is Phase.STEADY:
                record.phase = Phase.SETTLE


def check_steady(log: SampleLog, features: list[str], min_success: float) -> None:
    problems = []
    for feature in features:
        samples = log.samples(feature, Phase.STEADY)
        stats = FeatureStats.of(samples)
        if stats.count == 0 or stats.success < min_success:
            outcomes = ", ".join(sorted({s.outcome.value for s in samples})) or "no samples"
            problems.append(f"{feature} ({stats.success:.0%} ok: {outcomes})")
    if problems:
        raise SteadyStateError(
            "the system is not steady before any fault; no fault was injected. Failing: "
            + "; ".join(problems)
        )
