"""Runs one scenario: its phases (chaosgate.lifecycle) in order; faults rolled back in `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from chaosgate.amplification import LinkCounters, LinkSampler
from chaosgate.cpu import CpuMeter
from chaosgate.errors import ChaosgateError
from chaosgate.events import EventBus, EventKind
from chaosgate.faults import FaultController
from chaosgate.lifecycle.inject import FaultWindow
from chaosgate.lifecycle.recover import Recover
from chaosgate.lifecycle.score import Score
from chaosgate.lifecycle.state import (
    HEALTH,
    Parts,
    PhaseStep,
    Restarter,
    RunSettings,
    ScenarioRun,
    SteadyStateError,
)
from chaosgate.lifecycle.steady import StartLoad, Steady, load_session, prometheus, setup_probes
from chaosgate.lifecycle.writers import Verify, Workload
from chaosgate.load.plan import LoadPlan
from chaosgate.observe import Clock, ProbeLoops, SampleLog
from chaosgate.probes.base import HealthProbe, Probe, ProbeContext
from chaosgate.probes.control import CONTROL, ControlProbe, ControlServer
from chaosgate.probes.plugin import ProbePlugin
from chaosgate.result import ScenarioResult, ScenarioStatus
from chaosgate.samples import Phase
from chaosgate.scenario.models import Scenario
from chaosgate.scoring import Weights
from chaosgate.topology import Topology

__all__ = ["HEALTH", "Restarter", "RunSettings", "ScenarioRunner", "SteadyStateError"]


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
        self.parts = Parts(
            topology=topology,
            controller=controller,
            plugin=plugin,
            gateway_url=gateway_url,
            health_urls=health_urls,
            bus=bus,
            settings=settings or RunSettings(),
            weights=weights or Weights(),
            artifacts=artifacts,
            load=load,
            restart=restart,
            stack_processes=stack_processes,
        )

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
            affected=self.parts.topology.features_affected_by(scenario.target),
            exercises=list(scenario.exercises),
            min_readiness=scenario.min_readiness,
        )

    async def run(self, scenario: Scenario, result: ScenarioResult | None = None) -> ScenarioResult:
        result = result if result is not None else self.new_result(scenario)
        bus = self.parts.bus
        clock = Clock()
        log = SampleLog(clock, bus, scenario.name)
        bus.emit(EventKind.SCENARIO_STARTED, scenario.name, title=scenario.title, target=scenario.target)
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
            bus.emit(
                EventKind.SCENARIO_FINISHED,
                scenario.name,
                status=result.status.value,
                message=result.message,
                readiness=result.score.readiness if result.score else None,
            )
        return result

    async def _run(self, scenario: Scenario, result: ScenarioResult, clock: Clock, log: SampleLog) -> None:
        parts, s = self.parts, self.parts.settings
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            base_url=parts.gateway_url, timeout=s.probe_timeout_s + 1, limits=limits
        ) as http:
            services = {name: url.rsplit("/health", 1)[0] for name, url in parts.health_urls.items()}
            ctx = ProbeContext(parts.gateway_url, http, timeout_s=s.probe_timeout_s, services=services)
            run = ScenarioRun(parts, scenario, result, clock, log, ctx, CpuMeter(parts.stack_processes))
            run.enter(Phase.SETUP)
            await setup_probes(parts, ctx)
            await asyncio.to_thread(parts.controller.prepare, scenario.faults)
            probes: dict[str, Probe] = {
                f: p for f, p in parts.plugin.probes.items() if f in parts.topology.features
            }
            probes |= {HEALTH + name: HealthProbe(url) for name, url in parts.health_urls.items()}
            with ControlServer() as server:  # a process outside the target: the machine's own pace
                probes[CONTROL] = ControlProbe(server.url)
                await self._under_probes(run, probes)

    async def _under_probes(self, run: ScenarioRun, probes: dict[str, Probe]) -> None:
        """Every phase from steady to verify runs with the probes sampling; then the score."""
        parts, s = self.parts, self.parts.settings

        def interval() -> float:
            return s.recovery_interval_s if run.log.phase is Phase.RECOVER else s.probe_interval_s

        metrics = prometheus(parts, run.clock)
        load = load_session(parts, run.scenario, run.result)
        counters = LinkCounters(parts.topology.proxy_api_url())
        links = LinkSampler(counters, run.clock, interval_s=s.probe_interval_s)
        steady = Steady([f for f in probes if not f.startswith(HEALTH)])
        phases: list[PhaseStep] = [StartLoad(load)] if load is not None else []
        phases += [steady, Workload(), FaultWindow(), Recover()]
        async with (
            ProbeLoops(probes, run.ctx, run.log, interval),
            links,
            metrics or contextlib.nullcontext(),
            load or contextlib.nullcontext(),
        ):
            for phase in phases:
                await phase(run)
            if load is not None:  # the load's recovery phase ends here
                await load.finish()
            await Verify()(run)
        if metrics is not None:
            run.result.metrics = metrics.records
        await Score(links)(run)
