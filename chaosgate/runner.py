"""One scenario's lifecycle: steady state, workload, inject, observe, rollback, recover, verify, score."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaosgate.amplification import LinkCounters, LinkSampler, amplification
from chaosgate.cpu import CpuMeter
from chaosgate.errors import ChaosgateError, FaultError, RunError
from chaosgate.events import EventBus, EventKind
from chaosgate.faults import SHORT, ActiveFault, FaultController
from chaosgate.load.plan import LoadPlan
from chaosgate.load.session import LoadSession
from chaosgate.observe import Clock, ProbeLoops, SampleLog
from chaosgate.probes.base import HealthProbe, Probe, ProbeContext
from chaosgate.probes.control import CONTROL, ControlProbe, ControlServer, ControlVerdict, judge
from chaosgate.probes.plugin import ProbePlugin
from chaosgate.probes.prometheus import PrometheusSampler
from chaosgate.result import (
    CascadeKind,
    CascadePath,
    ControlRecord,
    FaultRecord,
    LinkRate,
    SampleRecord,
    ScenarioResult,
    ScenarioStatus,
    ScoreRecord,
    WriterRecord,
)
from chaosgate.scenario.models import Fault, Scenario
from chaosgate.scoring import (
    FailBehaviour,
    FeatureStats,
    Health,
    Observations,
    ProbeOutcome,
    Sample,
    Weights,
    score,
)
from chaosgate.topology import Topology
from chaosgate.workload import WriterCheck, WriterLoop

HEALTH = "health:"

# Restarts a stack's services by name (the local runtime), giving back the ones it restarted; None
# where the harness cannot restart anything (a remote or compose stack it did not start).
Restarter = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class RunSettings:
    probe_interval_s: float = 0.5
    # Recovery is sampled at the steady cadence: a faster one adds the probes' own load, and on a
    # small machine that alone keeps latencies above baseline, so "recovered" would never be seen.
    # The recovery check itself runs every 0.1 s over the staggered samples of all probes.
    recovery_interval_s: float = 0.5
    probe_timeout_s: float = 2.0  # no answer within this is a hang
    time_scale: float = 1.0  # shortens steady windows and fault durations (tests, smoke runs)
    deadline_grace_s: float = 15.0  # a fault's deadline is its planned end plus this
    steady_min_success: float = 0.95
    # A latency verdict stands on the steady window's p95: at least this many samples per probe
    # (the window is lengthened at small time scales; 12 at 0.5 s is 6 s).
    min_steady_samples: int = 12
    recovery_streak: int = 3  # consecutive baseline-like samples that count as recovered...
    recovery_span_s: float = 1.0  # ...spanning at least this long
    settle_s: float = 20.0  # how long to wait for a steady window before aborting
    writer_limit: int = 5_000
    read_back_timeout_s: float = 30.0
    locust_workers: int = 0  # 0: one Locust process per load; N: a Locust master and N workers
    load_fraction: float | None = None  # overrides chaos.yaml's load.fraction; 0: no load at all
    capacity_rps: float | None = None  # given instead of calibrated (a production figure, a bench)


class SteadyStateError(RunError):
    """The system was not healthy before any fault: the scenario is aborted untouched."""


class ScenarioRunner:
    """Runs one scenario against a live system. Faults are rolled back in `finally`, always."""

    def __init__(
        self,
        *,
        topology: Topology,
        controller: FaultController,
        plugin: ProbePlugin,
        gateway_url: str,
        health_urls: Mapping[str, str],
        bus: EventBus,
        settings: RunSettings | None = None,
        weights: Weights | None = None,
        artifacts: Path | None = None,
        load: LoadPlan | None = None,
        restart: Restarter | None = None,
        stack_processes: Callable[[], list[int] | None] | None = None,
    ) -> None:
        """Probe interval and timeout come from `settings`; the Prometheus sampler from the topology;
        `load` is the steady load every window of every scenario runs under (None: no load)."""
        self.topology = topology
        self.controller = controller
        self.plugin = plugin
        self.gateway_url = gateway_url
        self.health_urls = health_urls
        self.bus = bus
        self.settings = settings or RunSettings()
        self.weights = weights or Weights()
        # The stack's processes on this machine (None: unknown): CPU outside them and the harness
        # is a neighbour's.
        self.stack_processes = stack_processes
        self.artifacts = artifacts  # where a scenario's Locust files go (a temp dir when None)
        self.load = load
        self.restart = restart  # brings back what did not recover by itself (local runtime)

    def new_result(self, scenario: Scenario) -> ScenarioResult:
        """The record `run` fills in; the caller holds it, so a run cut short by a signal still
        leaves what it measured and which faults it applied."""
        return ScenarioResult(
            name=scenario.name,
            title=scenario.title,
            target=scenario.target,
            weight=scenario.weight,
            status=ScenarioStatus.RUNNING,
            started_at=time.time(),
            affected=self.topology.features_affected_by(scenario.target),
            exercises=list(scenario.exercises),
            min_readiness=scenario.min_readiness,
        )

    async def run(self, scenario: Scenario, result: ScenarioResult | None = None) -> ScenarioResult:
        result = result if result is not None else self.new_result(scenario)
        clock = Clock()
        log = SampleLog(clock, self.bus, scenario.name)
        self.bus.emit(EventKind.SCENARIO_STARTED, scenario.name, title=scenario.title, target=scenario.target)
        try:
            await self._run(scenario, result, clock, log)
            result.status = ScenarioStatus.COMPLETED
        except SteadyStateError as exc:
            result.status, result.message = ScenarioStatus.ABORTED, str(exc)
        except ChaosgateError as exc:
            result.status, result.message = ScenarioStatus.ERROR, str(exc)
        except asyncio.CancelledError:
            result.status = ScenarioStatus.INTERRUPTED
            result.message = "interrupted by a signal; every fault was rolled back"
            raise
        finally:
            result.samples = log.records
            result.duration_s = round(clock(), 2)
            self.bus.emit(
                EventKind.SCENARIO_FINISHED,
                scenario.name,
                status=result.status.value,
                message=result.message,
                readiness=result.score.readiness if result.score else None,
            )
        return result

    async def _run(self, scenario: Scenario, result: ScenarioResult, clock: Clock, log: SampleLog) -> None:
        s = self.settings
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            base_url=self.gateway_url, timeout=s.probe_timeout_s + 1, limits=limits
        ) as http:
            ctx = ProbeContext(
                self.gateway_url,
                http,
                timeout_s=s.probe_timeout_s,
                services={name: url.rsplit("/health", 1)[0] for name, url in self.health_urls.items()},
            )
            self._phase(scenario, log, "setup")
            await self._setup_probes(ctx)
            await asyncio.to_thread(self.controller.prepare, scenario.faults)
            probes: dict[str, Probe] = {
                f: p for f, p in self.plugin.probes.items() if f in self.topology.features
            }
            probes |= {HEALTH + name: HealthProbe(url) for name, url in self.health_urls.items()}
            with ControlServer() as control:  # a process outside the target: the machine's own pace
                probes[CONTROL] = ControlProbe(control.url)
                await self._probe_and_measure(scenario, result, clock, log, ctx, probes)

    async def _probe_and_measure(
        self,
        scenario: Scenario,
        result: ScenarioResult,
        clock: Clock,
        log: SampleLog,
        ctx: ProbeContext,
        probes: dict[str, Probe],
    ) -> None:
        s = self.settings
        cpu = CpuMeter(self.stack_processes)

        def interval() -> float:
            return s.recovery_interval_s if log.phase == "recover" else s.probe_interval_s

        metrics = self._prometheus(clock)
        load = self._load(scenario, result)
        links = LinkSampler(LinkCounters(self.topology.proxy_api_url()), clock, interval_s=s.probe_interval_s)
        async with (
            ProbeLoops(probes, ctx, log, interval),
            links,
            metrics or contextlib.nullcontext(),
            load or contextlib.nullcontext(),
        ):
            if load is not None:  # the steady window (the baseline) is measured under the load
                self._phase(scenario, log, "load")
                await load.begin()
                load.begin_steady()
            self._phase(scenario, log, "steady")
            await self._await_steady(scenario, log, [f for f in probes if not f.startswith(HEALTH)], cpu)

            writers = self._writers(scenario, ctx, clock)
            self._phase(scenario, log, "workload")
            for writer in writers:
                writer.start()
            await asyncio.sleep(min(1.0, s.probe_interval_s * 2))
            for writer in writers:
                if writer.writer.ephemeral:
                    await writer.stop()  # sessions opened before the fault; checked after recovery
            try:
                await self._inject_and_observe(scenario, result, clock, log, cpu)
            finally:
                self._close_active_window(result, clock)
                cpu.mark("fault_end", clock())
                self._phase(scenario, log, "rollback")
                try:
                    self._rollback()
                finally:
                    self._faults_from_ledger(result)
                window_start = result.fault_window[0] if result.fault_window else clock()
                result.fault_window = (window_start, round(clock(), 3))
                if result.active_window is None and result.faults:
                    note = "no fault was verified in place within its window: judged over the fault window"
                    result.message = f"{result.message}; {note}" if result.message else note
            self._phase(scenario, log, "recover")
            rolled_back_at = clock()
            result.recovery_s, not_back = await self._await_recovery(
                scenario, log, clock, rolled_back_at=rolled_back_at
            )
            recovery_noise = self._recovery_noise(log, rolled_back_at) if not_back else None
            if not_back:
                await self._restart_not_recovered(scenario, result, log, not_back)
            if load is not None:
                await load.finish()
            self._phase(scenario, log, "verify")
            checks = await self._verify(result, writers, clock, rolled_back_at)
        if metrics is not None:
            result.metrics = metrics.records
        result.control = self._control(log, result, cpu, _shortfalls(result), recovery_noise)
        result.writers = {name: _writer_record(check) for name, check in checks.items()}
        self._phase(scenario, log, "score")
        result.score = self._score(scenario, result, log, checks, not_back)
        result.score.amplification = self._amplification(scenario, result, links, cpu)

    def _load(self, scenario: Scenario, result: ScenarioResult) -> LoadSession | None:
        plan = self.load
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
        scale = self.settings.time_scale
        out_dir = self.artifacts or Path(tempfile.mkdtemp(prefix="chaosgate-load-"))
        return LoadSession(
            plan,
            result,
            host=self.gateway_url,
            out_dir=out_dir / f"locust-{scenario.name}-{int(result.started_at)}",
            workers=self.settings.locust_workers,
            expected_s=self.settings.settle_s
            + scenario.steady_state.window * scale
            + scenario.fault_window * scale
            + self._recovery_timeout(scenario),
        )

    def _prometheus(self, clock: Clock) -> PrometheusSampler | None:
        probes = self.topology.probes
        if not probes.prometheus or not probes.queries:
            return None
        return PrometheusSampler(
            probes.prometheus, probes.queries, clock, interval_s=self.settings.probe_interval_s
        )

    def _phase(self, scenario: Scenario, log: SampleLog, phase: str) -> None:
        log.phase = phase
        self.bus.emit(EventKind.PHASE, scenario.name, phase=phase, t=round(log.clock(), 3))

    async def _setup_probes(self, ctx: ProbeContext) -> None:
        """The plugin's setup (users, conversation...), retried while the system settles (a previous
        scenario's breaker may still be open); not steady if it never succeeds within settle_s."""
        give_up = time.monotonic() + self.settings.settle_s
        while True:
            try:
                async with asyncio.timeout(30):
                    await self.plugin.setup(ctx)
                return
            except (ChaosgateError, httpx.HTTPError, TimeoutError) as exc:
                if time.monotonic() + 1.0 > give_up:
                    raise SteadyStateError(f"the system is not steady: probe setup failed: {exc}") from exc
                await asyncio.sleep(1.0)

    async def _await_steady(
        self, scenario: Scenario, log: SampleLog, features: list[str], cpu: CpuMeter
    ) -> None:
        """Wait for one steady window (a previous scenario may still be settling), up to settle_s.
        The window holds at least `min_steady_samples` per probe: a p95 of a handful of samples is
        no footing for a latency verdict."""
        s = self.settings
        floor = s.min_steady_samples * s.probe_interval_s
        window = max(1.0, floor, scenario.steady_state.window * s.time_scale)
        give_up = log.clock() + s.settle_s + window
        while True:
            cpu.mark("steady_start", log.clock())
            await asyncio.sleep(window)
            cpu.mark("steady_end", log.clock())
            try:
                self._check_steady(log, features)
                return
            except SteadyStateError:
                if log.clock() + window > give_up:
                    raise
            for record in log.records:  # not the baseline: only a steady window is
                if record.phase == "steady":
                    record.phase = "settle"

    def _check_steady(self, log: SampleLog, features: list[str]) -> None:
        problems = []
        for feature in features:
            samples = log.samples(feature, "steady")
            stats = FeatureStats.of(samples)
            if stats.count == 0 or stats.success < self.settings.steady_min_success:
                outcomes = ", ".join(sorted({s.outcome.value for s in samples})) or "no samples"
                problems.append(f"{feature} ({stats.success:.0%} ok: {outcomes})")
        if problems:
            raise SteadyStateError(
                "the system is not steady before any fault; no fault was injected. Failing: "
                + "; ".join(problems)
            )

    def _writers(self, scenario: Scenario, ctx: ProbeContext, clock: Clock) -> list[WriterLoop]:
        """The scenario's writers (chaos.yaml's, declared or the plugin's: the loader checked the
        names), plus every ephemeral one (sessions opened before the fault must outlive it)."""
        names = list(scenario.workload.writers)
        names += [
            n for n, f in self.plugin.writers.items() if n not in names and getattr(f, "ephemeral", False)
        ]
        loops = []
        for name in names:
            factory = self.plugin.writers.get(name)
            if factory is None:
                raise RunError(f"workload writer {name!r} is not in chaos.yaml's writers")
            rate = scenario.workload.rate
            loop = WriterLoop(name, factory(), ctx, rate=rate, limit=self.settings.writer_limit, clock=clock)
            loops.append(loop)
        return loops

    async def _inject_and_observe(
        self, scenario: Scenario, result: ScenarioResult, clock: Clock, log: SampleLog, cpu: CpuMeter
    ) -> None:
        scale = self.settings.time_scale
        self._phase(scenario, log, "fault")
        cpu.mark("fault_start", clock())
        result.fault_window = (round(clock(), 3), round(clock(), 3))
        applied = _Applied()
        tasks = [
            asyncio.create_task(self._one_fault(scenario, i, fault, result, clock, applied))
            for i, fault in enumerate(scenario.faults)
        ]
        window_end = clock() + scenario.fault_window * scale
        interrupted = False
        try:
            while clock() < window_end:
                done = [t for t in tasks if t.done() and t.exception() is not None]
                if done:
                    raise done[0].exception() or RunError("a fault failed")
                radius = self._blast_radius(result, log, clock, since=clock() - 3.0)
                if radius > scenario.stop.max_blast_radius:
                    self.bus.emit(
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
            # Faults end on their own at the window's end; give them a moment before cancelling.
            # Interrupted: no waiting, so nothing more is applied and removal starts at once.
            pending = [t for t in tasks if not t.done()]
            if pending and not interrupted:
                await asyncio.wait(pending, timeout=self.settings.probe_timeout_s + 3)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ChaosgateError):
                    await task

    async def _one_fault(
        self,
        scenario: Scenario,
        index: int,
        fault: Fault,
        result: ScenarioResult,
        clock: Clock,
        applied: _Applied,
    ) -> None:
        scale = self.settings.time_scale
        await asyncio.sleep(fault.start * scale)
        fault_id = f"{scenario.name}-{index}-{int(time.time() * 1000) % 10**8}"
        deadline = time.time() + fault.duration * scale + self.settings.deadline_grace_s
        record = FaultRecord(fault_id=fault_id, injector=fault.injector, spec=fault.model_dump(mode="json"))
        result.faults.append(record)
        self.bus.emit(EventKind.FAULT, scenario.name, fault_id=fault_id, event="applying", spec=record.spec)
        started = time.monotonic()
        injecting = asyncio.ensure_future(
            asyncio.to_thread(self.controller.inject, fault, fault_id=fault_id, deadline=deadline)
        )
        try:
            active: ActiveFault = await asyncio.shield(injecting)
        except asyncio.CancelledError:
            # The thread goes on applying: wait for it, then take back what it applied, so a
            # signal mid-injection never leaves a fault behind the rollback.
            with contextlib.suppress(Exception):
                await asyncio.wait([injecting])
                await asyncio.to_thread(self._remove, injecting.result())
            raise
        took = time.monotonic() - started
        applied.count += 1
        now = round(clock(), 3)
        if result.active_window is None:
            result.active_window = (now, math.inf)
        else:  # another fault is (or was) applied: the window spans from the first to the last one
            result.active_window = (min(now, result.active_window[0]), math.inf)
        self.bus.emit(
            EventKind.FAULT,
            scenario.name,
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
                self._close_active_window(result, clock)
            await asyncio.to_thread(self._remove, active)
            self.bus.emit(EventKind.FAULT, scenario.name, fault_id=fault_id, event="removed")

    @staticmethod
    def _close_active_window(result: ScenarioResult, clock: Clock) -> None:
        if result.active_window is not None and result.active_window[1] == math.inf:
            result.active_window = (result.active_window[0], round(clock(), 3))

    def _faults_from_ledger(self, result: ScenarioResult) -> None:
        """The ledger on disk is the truth of what happened to each fault, whoever removed it."""
        history = {f.fault_id: f.history for f in self.controller.ledger.replay()}
        for record in result.faults:
            record.events = [
                (event.value, round(at - result.started_at, 3), detail)
                for event, at, detail in history.get(record.fault_id, [])
            ]

    def _remove(self, active: ActiveFault) -> None:
        with contextlib.suppress(FaultError):  # the rollback after the phase retries and reports
            self.controller.remove(active)

    def _rollback(self) -> None:
        problems = self.controller.rollback()
        if problems:
            raise FaultError("rollback incomplete: " + "; ".join(problems))

    def _blast_radius(self, result: ScenarioResult, log: SampleLog, clock: Clock, *, since: float) -> float:
        unaffected = [
            f for f in self.plugin.probes if f in self.topology.features and f not in result.affected
        ]
        if not unaffected:
            return 0.0
        bad = 0
        for feature in unaffected:
            recent = log.since(feature, since)
            if recent and sum(1 for r in recent if not r.outcome.ok) > len(recent) / 2:
                bad += 1
        return bad / len(unaffected)

    async def _await_recovery(
        self, scenario: Scenario, log: SampleLog, clock: Clock, *, rolled_back_at: float
    ) -> tuple[float | None, list[str]]:
        """Seconds from rollback until every probe is back at baseline (None past the timeout), and
        the probes not back when it ran out. The control is the machine's, not the target's: left out."""
        targets = sorted({r.target for r in log.records if r.target != CONTROL})
        limits = {t: self._latency_limit(log, t) for t in targets}
        deadline = rolled_back_at + self._recovery_timeout(scenario)
        while clock() < deadline:
            starts = [self._back_since(log, t, limits[t], rolled_back_at) for t in targets]
            if all(start is not None for start in starts):
                latest = max((x for x in starts if x is not None), default=rolled_back_at)
                return round(max(0.0, latest - rolled_back_at), 1), []
            await asyncio.sleep(0.1)
        return None, [t for t in targets if self._back_since(log, t, limits[t], rolled_back_at) is None]

    def _back_since(self, log: SampleLog, target: str, limit_s: float, since: float) -> float | None:
        """When `target`'s trailing run of baseline-like samples began, if it is long enough to count."""
        tail = _good_tail(log.since(target, since), limit_s)
        s = self.settings
        if len(tail) < s.recovery_streak or tail[-1].t - tail[0].t < s.recovery_span_s:
            return None
        return tail[0].t

    async def _restart_not_recovered(
        self, scenario: Scenario, result: ScenarioResult, log: SampleLog, not_back: list[str]
    ) -> None:
        """A metastable failure (still broken after the fault is gone) is a cascade by persistence;
        the next scenario must not inherit it. Where the harness can, it restarts the services on the
        routes of what did not come back (a stack it did not start is left as it is, and said so)."""
        services = sorted(
            {
                component
                for target in not_back
                for component in (
                    {target.removeprefix(HEALTH)}
                    if target.startswith(HEALTH)
                    else self.topology.feature_dependencies(target)
                )
                if component in self.topology.services
            }
        )
        timeout = self._recovery_timeout(scenario)
        note = f"not back at baseline {timeout:g}s after rollback: {', '.join(not_back)}"
        if self.restart is None or not services:
            result.message = f"{result.message}; {note}" if result.message else note
            return
        self.bus.emit(EventKind.MESSAGE, scenario.name, text=f"{note}; restarting {', '.join(services)}")
        result.restarted = await asyncio.to_thread(self.restart, services)
        note += f"; restarted {', '.join(result.restarted)}"
        result.message = f"{result.message}; {note}" if result.message else note
        self._phase(scenario, log, "restart")
        await asyncio.sleep(self.settings.settle_s / 4)  # the probes see the restarted services

    def _recovery_timeout(self, scenario: Scenario) -> float:
        return scenario.recovery.timeout_at(self.settings.time_scale)

    def _latency_limit(self, log: SampleLog, target: str) -> float:
        base = FeatureStats.of(log.samples(target, "steady")).p95_s
        return max(3 * base, base + 0.250)

    async def _verify(
        self, result: ScenarioResult, writers: list[WriterLoop], clock: Clock, rolled_back_at: float
    ) -> dict[str, WriterCheck]:
        """Read every writer back; its writes are counted per phase (before, fault, recovery)."""
        for writer in writers:
            await writer.stop()
        lo, hi = _judged_window(result) or (rolled_back_at, rolled_back_at)
        windows = {"before": (0.0, lo), "fault": (lo, hi), "recovery": (hi, math.inf)}
        checks = {}
        for writer in writers:
            check = await writer.check(timeout_s=self.settings.read_back_timeout_s, windows=windows)
            checks[writer.name] = check
            if check.cannot_tell:
                note = f"{writer.name}: cannot tell what was lost ({check.cannot_tell}): not counted as lost"
            elif writer.read_error:
                note = f"{writer.name} could not be read back ({writer.read_error}): counted as lost"
            else:
                continue
            result.message = f"{result.message}; {note}" if result.message else note
        return checks

    def _amplification(
        self, scenario: Scenario, result: ScenarioResult, links: LinkSampler, cpu: CpuMeter
    ) -> list[LinkRate]:
        """Traffic through the faulted link and its callers' links, fault against steady (shown,
        not scored); a proxy whose counters could not be read leaves a note, not an error."""
        steady = cpu.marks.get("steady_start"), cpu.marks.get("steady_end")
        fault = result.active_window or result.fault_window
        if steady[0] is None or steady[1] is None or fault is None:
            return []
        if links.failures:
            note = f"amplification: {links.failures[0]}"
            result.message = f"{result.message}; {note}" if result.message else note
        target = scenario.target
        return amplification(
            links.snapshots,
            steady=(steady[0].t, steady[1].t),
            fault=fault,
            faulted=target,
            callers=[c for c in self.topology.callers_of(target) if c in self.topology.links],
        )

    def _crowded(self, cpu: CpuMeter) -> list[str]:
        """Windows where the machine was full and a neighbour (outside this process and the stack it
        started) took a large share of it: then the steady window itself may be slow, and the control's
        fault-against-steady ratio cannot see the neighbour."""
        found = []
        for name in ("steady", "fault"):
            busy, _ = cpu.shares(f"{name}_start", f"{name}_end")
            other = cpu.neighbour(f"{name}_start", f"{name}_end")
            if busy is not None and other is not None and busy >= BUSY and other >= NEIGHBOUR:
                found.append(f"{name}: another process took {other:.0%} of the machine ({busy:.0%} busy)")
        return found

    def _explains_hangs_ms(self, p95_ms: float | None) -> bool:
        """Whether the control was slow enough for a probe's hang to be the machine's: a feature
        crosses about five processes (gateway, service, stores), each delayed as the control was."""
        return p95_ms is not None and p95_ms / 1000 >= HANG_NOISE * self.settings.probe_timeout_s

    def _recovery_noise(self, log: SampleLog, since: float) -> ControlVerdict:
        """The control from rollback to the recovery timeout: was the machine still saturated when
        the probes were judged not back?"""
        after = [Sample(r.outcome, r.latency_ms / 1000) for r in log.since(CONTROL, since)]
        return judge(log.samples(CONTROL, "steady"), after, window="recovery")

    def _control(
        self,
        log: SampleLog,
        result: ScenarioResult,
        cpu: CpuMeter,
        shortfalls: list[str],
        recovery: ControlVerdict | None = None,
    ) -> ControlRecord:
        """The control's verdict on the fault window, with the machine's and the harness's CPU; a fault
        the harness fell short of delivering counts as saturation too (the harness is on the machine)."""
        lo, hi = _judged_window(result) or (0.0, 0.0)
        fault = [
            Sample(r.outcome, r.latency_ms / 1000)
            for r in log.records
            if r.target == CONTROL and r.t >= lo and r.t + r.latency_ms / 1000 <= hi
        ]
        verdict = judge(log.samples(CONTROL, "steady"), fault)
        _, harness_steady = cpu.shares("steady_start", "steady_end")
        busy_fault, harness_fault = cpu.shares("fault_start", "fault_end")
        crowded = self._crowded(cpu)
        saturated = verdict.saturated or bool(shortfalls) or bool(crowded)
        reason = "; ".join(
            [verdict.reason] * verdict.saturated + [f"fault {s}" for s in shortfalls] + crowded
        )
        if saturated and busy_fault is not None:
            reason += f"; machine {busy_fault:.0%} busy, harness {harness_fault or 0:.0%}"
        if recovery is not None and recovery.saturated:
            reason += ("; " if reason else "") + recovery.reason
        return ControlRecord(
            steady_p95_ms=round(verdict.steady.p95_s * 1000, 2) if verdict.steady.count else None,
            fault_p95_ms=round(verdict.fault.p95_s * 1000, 2) if verdict.fault.count else None,
            ratio=round(verdict.ratio, 2) if verdict.ratio is not None else None,
            steady_count=verdict.steady.count,
            fault_count=verdict.fault.count,
            harness_cpu_steady=harness_steady,
            harness_cpu_fault=harness_fault,
            neighbour_cpu_steady=cpu.neighbour("steady_start", "steady_end"),
            neighbour_cpu_fault=cpu.neighbour("fault_start", "fault_end"),
            saturated=saturated,
            recovery_p95_ms=(
                round(recovery.fault.p95_s * 1000, 2) if recovery and recovery.fault.count else None
            ),
            recovery_saturated=bool(
                recovery
                and recovery.saturated
                and recovery.fault.count
                and self._explains_hangs_ms(recovery.fault.p95_s * 1000)
            ),
            reason=reason,
        )

    def _score(
        self,
        scenario: Scenario,
        result: ScenarioResult,
        log: SampleLog,
        checks: Mapping[str, WriterCheck],
        not_back: list[str],
    ) -> ScoreRecord:
        features = [f for f in self.plugin.probes if f in self.topology.features]
        lo, hi = _judged_window(result) or (0.0, 0.0)

        def during(target: str) -> list[Sample]:
            return [
                Sample(r.outcome, r.latency_ms / 1000)
                for r in log.records
                if r.target == target and r.t >= lo and r.t + r.latency_ms / 1000 <= hi
            ]

        health = {
            name: _health(during(HEALTH + name), self._latency_limit(log, HEALTH + name))
            for name in self.health_urls
        }
        target = scenario.target
        apart = frozenset(self.topology.features_apart_from(target))
        lost_features = tuple(t for t in not_back if not t.startswith(HEALTH))
        lost_components = [t.removeprefix(HEALTH) for t in not_back if t.startswith(HEALTH)]
        for component in lost_components:
            if component != target:
                health[component] = Health.DOWN
        obs = Observations(
            target=target,
            broken=frozenset(result.affected),
            soft=frozenset(self.topology.features_soft_on(target)),
            baseline={f: log.samples(f, "steady") for f in features},
            during={f: during(f) for f in features},
            health=health,
            writers={n: c.counts for n, c in checks.items()},
            writer_covers={n: frozenset(w.covers) for n, w in self.topology.writers.items()},
            expect=scenario.expect,
            recovery_s=result.recovery_s,
            recovery_target_s=scenario.recovery.target,
            recovery_timeout_s=self._recovery_timeout(scenario),
            fast_fail_s=self.topology.scoring.fast_fail,
            apart=apart,
            on_path=frozenset({target, *self.topology.callers_of(target)}),
            routes=_routes(self.topology, target, [*apart, *health]),
            not_recovered=lost_features,
            restarted=tuple(result.restarted),
            saturated=result.control is not None and result.control.saturated,
            recovery_saturated=result.control is not None and result.control.recovery_saturated,
            hangs_void=result.control is not None
            and result.control.saturated
            and self._explains_hangs_ms(result.control.fault_p95_ms),
            short=bool(_shortfalls(result)),
            fault_writes={n: c.phases["fault"].attempted for n, c in checks.items() if "fault" in c.phases},
            cannot_tell={n: c.cannot_tell for n, c in checks.items() if c.cannot_tell},
        )
        scored = score(obs, self.weights)
        return ScoreRecord(
            readiness=scored.readiness,
            isolation=scored.isolation,
            isolation_label=scored.isolation_label,
            unhealthy_unaffected=list(scored.unhealthy_unaffected),
            broken=list(scored.broken),
            must_survive=list(scored.must_survive),
            cascade_label=scored.cascade_label,
            cascaded=list(scored.cascaded),
            cascaded_share=scored.cascaded_share,
            data=scored.data,
            data_label=scored.data_label,
            behaviour=dict(scored.behaviour),
            behaviour_shares={f: dict(v) for f, v in scored.behaviour_shares.items()},
            expected={f: FailBehaviour.expected(o) for f, o in scenario.expect.items()},
            behaviour_match=scored.behaviour_match,
            recovery=scored.recovery,
            components=dict(scored.components),
            weights=dict(scored.weights),
            cascade_paths=[
                CascadePath(kind=CascadeKind(h.kind), name=h.name, severity=h.severity.value, path=h.path)
                for h in scored.cascade_paths
            ],
            not_recovered=list(lost_features),
            inconclusive=list(scored.inconclusive),
            data_reason=scored.data_reason,
            steady_samples={f: len(obs.baseline[f]) for f in features},
        )


def _judged_window(result: ScenarioResult) -> tuple[float, float] | None:
    """Where the fault was in place (the active window); a fault never verified in place within its
    window (an injector that could not finish applying it) is judged over the whole fault window, so
    its features are measured rather than read as having answered nothing."""
    return result.active_window or result.fault_window


# A full machine (busy share) of which others took at least this much. Measured on 2 cores: a quiet
# machine's neighbours took 0.3-1.8 %; two busy loops took 17-24 % (the scheduler shares the cores among
# the stack's dozen processes and the loops), and slowed every probe by seconds.
BUSY = 0.9
NEIGHBOUR = 0.10
# A control p95 of at least this share of the probe timeout (400 ms of 2 s) can explain a hang.
HANG_NOISE = 0.2


@dataclass
class _Applied:
    """How many of a scenario's faults are applied at this moment."""

    count: int = 0


def _routes(topology: Topology, target: str, names: list[str]) -> dict[str, str]:
    """How harm from `target` could reach each feature or component: through the nearest component
    it shares with the callers of `target` (a shared pool, process or queue), else the machine."""
    callers = topology.callers_of(target)
    routes = {}
    for name in names:
        reach = (
            topology.feature_dependencies(name) | topology.feature_soft_dependencies(name)
            if name in topology.features
            else {name}
        )
        shared = [c for c in callers if c in reach]
        if shared:
            chain = topology.caller_chain(target, {shared[0]})
            routes[name] = " <- ".join(chain) + f" -> {name} (shared: {shared[0]})"
        else:
            routes[name] = f"{target} -> {name} (no shared component: the machine's CPU, memory or sockets)"
    return routes


def _shortfalls(result: ScenarioResult) -> list[str]:
    """What the injectors said, at removal, their faults fell short of."""
    return [
        detail.removeprefix(SHORT)
        for record in result.faults
        for event, _, detail in record.events
        if event == "removed" and detail.startswith(SHORT)
    ]


def _writer_record(check: WriterCheck) -> WriterRecord:
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


def _good_tail(records: list[SampleRecord], limit_s: float) -> list[SampleRecord]:
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


def _health(during: list[Sample], limit_s: float) -> Health:
    if any(s.outcome in (ProbeOutcome.HANG, ProbeOutcome.ERROR) for s in during):
        return Health.DOWN
    if during and (FeatureStats.of(during).p95_s > limit_s or any(not s.outcome.ok for s in during)):
        return Health.DEGRADED
    return Health.OK
