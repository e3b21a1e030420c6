"""The root object of a run: wires topology, stack, faults, probes, journal and gate, and runs scenarios."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaosgate.claims import Claims, load_claims
from chaosgate.errors import FaultError, Interrupted, StackError
from chaosgate.events import EventBus, EventKind, Observer
from chaosgate.faults import LEDGER_FILE, FaultController, FaultLedger, LedgerEvent
from chaosgate.gate import GatePolicy, decide
from chaosgate.journal import Journal
from chaosgate.load.calibrate import calibrate, load_cached, store
from chaosgate.load.definition import LoadDefinition, load_definition
from chaosgate.load.plan import LoadPlan
from chaosgate.preflight import Endpoints, check_stack
from chaosgate.probes.declared import plugin_for
from chaosgate.probes.plugin import ProbePlugin
from chaosgate.proxy.client import TOXIC_PREFIX, ToxiproxyClient
from chaosgate.registry import default_injectors
from chaosgate.result import CapacityRecord, RunResult, ScenarioResult, ScenarioStatus
from chaosgate.runner import RunSettings, ScenarioRunner
from chaosgate.scenario.models import Scenario
from chaosgate.scoring import Weights
from chaosgate.stack.running import RunningStack
from chaosgate.topology import Topology
from chaosgate.watchdog import spawn as spawn_watchdog


def _mean_cpu_share(result: RunResult) -> float | None:
    """The harness's own CPU share over the run: the mean of its scenarios' (weighted by duration)."""
    parts = [
        (s.load.harness_cpu_share, s.duration_s)
        for s in result.scenarios
        if s.load is not None and s.load.harness_cpu_share is not None
    ]
    total = sum(d for _, d in parts)
    return round(sum(v * d for v, d in parts) / total, 3) if total > 0 else None


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
    gate: GatePolicy = field(default_factory=GatePolicy)

    def run(self, scenarios: Sequence[Scenario]) -> RunResult:
        """Run every scenario in order; SIGINT/SIGTERM roll back and raise Interrupted."""
        return asyncio.run(self._main(scenarios))

    async def _main(self, scenarios: Sequence[Scenario]) -> RunResult:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        result = RunResult(
            run_id=new_run_id(),
            started_at=time.time(),
            profile=self.stack.profile,
            runtime="remote" if self.topology.remote is not None else self.topology.runtime,
            backends=self.stack.backends(),
        )

        def interrupt() -> None:
            result.interrupted = True
            task.cancel()

        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, interrupt)
        try:
            return await self._run_all(scenarios, result)
        except asyncio.CancelledError:
            raise Interrupted(
                "interrupted: every fault was rolled back; "
                f"{len(result.scenarios)} scenario(s) begun are in result.json",
                result=result,
            ) from None
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def _run_all(self, scenarios: Sequence[Scenario], result: RunResult) -> RunResult:
        out_dir = self.out_root / result.run_id
        journal = Journal(out_dir)
        bus = EventBus([journal, *self.observers])
        bus.emit(
            EventKind.RUN_STARTED,
            run_id=result.run_id,
            out_dir=str(out_dir),
            scenarios=[s.name for s in scenarios],
        )
        ledger = FaultLedger(self.stack.run_dir / LEDGER_FILE)
        controller = FaultController(ledger, default_injectors(), self.stack.fault_environment())
        watchdog: subprocess.Popen[bytes] | None = None
        try:
            plugin = self._plugin()  # a feature with no probe, a writer nobody provides: before any change
            self._preflight(scenarios)
            self._sweep(controller, bus)
            watchdog = spawn_watchdog(
                ledger=ledger.path,
                config=self.topology.source,
                run_dir=self.stack.run_dir,
                owner_pid=os.getpid(),
                log=self.stack.run_dir / "logs" / "watchdog.log",
            )
            claims = self._claims()
            if claims is not None:
                result.claims_source = claims.describe()
                result.claimed_overall = claims.overall_for(self.stack.profile)
            plan = await self._load_plan(result, bus, out_dir)
            runner = self._runner(controller, plugin, bus, plan, out_dir)
            await self._scenarios(scenarios, result, runner, claims, controller, journal, bus)
        finally:
            # Whatever happened (an error, SIGINT, SIGTERM), nothing stays broken.
            self._finish(result, controller, watchdog, journal, bus)
        return result

    def _runner(
        self,
        controller: FaultController,
        plugin: ProbePlugin,
        bus: EventBus,
        plan: LoadPlan | None,
        out_dir: Path,
    ) -> ScenarioRunner:
        return ScenarioRunner(
            topology=self.topology,
            controller=controller,
            plugin=plugin,
            gateway_url=self.stack.gateway_url,
            health_urls=self._health_urls(),
            bus=bus,
            settings=self.settings,
            weights=Weights(**self.topology.scoring.weights.model_dump()),
            artifacts=out_dir,
            load=plan,
            restart=self.stack.restart,
            stack_processes=self.stack.process_ids,
        )

    async def _scenarios(
        self,
        scenarios: Sequence[Scenario],
        result: RunResult,
        runner: ScenarioRunner,
        claims: Claims | None,
        controller: FaultController,
        journal: Journal,
        bus: EventBus,
    ) -> None:
        """Each scenario in order, its result in result.json as soon as it ends; leftovers swept between."""
        for scenario in scenarios:
            outcome: ScenarioResult = runner.new_result(scenario)
            result.scenarios.append(outcome)  # begun: kept even if a signal cuts it short
            await runner.run(scenario, outcome)
            if result.interrupted:  # the signal came where the runner could not see it
                outcome.status = ScenarioStatus.INTERRUPTED
                raise asyncio.CancelledError
            if claims is not None:
                outcome.claim = claims.compare(outcome)
            journal.write_result(result)
            self._sweep(controller, bus)

    def _finish(
        self,
        result: RunResult,
        controller: FaultController,
        watchdog: subprocess.Popen[bytes] | None,
        journal: Journal,
        bus: EventBus,
    ) -> None:
        """Roll back, stop the dead man's switch, decide the gate and hand the result to the reporters;
        a fault that could not be rolled back is the run's error, after the result is written."""
        problems = controller.rollback()
        controller.close()
        if watchdog is not None:
            watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watchdog.wait(timeout=5)
        if not problems:
            controller.ledger.compact()
        result.finished_at = time.time()
        result.harness_cpu_share = _mean_cpu_share(result)
        decide(result, self.gate)
        path = journal.write_result(result)
        bus.emit(  # reporters write the run's reports from it (also when it was cut short)
            EventKind.RUN_FINISHED,
            run=result,
            run_id=result.run_id,
            result=str(path),
            overall=result.overall,
            passed=result.gate is not None and result.gate.passed,
        )
        journal.close()
        if problems:
            raise FaultError("could not roll back every fault: " + "; ".join(problems))

    def _claims(self) -> Claims | None:
        """A report's claims, when chaos.yaml names them and they describe this profile."""
        if self.topology.claims is None:
            return None
        claims = load_claims(self.topology.source.parent / self.topology.claims)
        return claims if claims.applies_to(self.stack.profile) else None

    async def _load_plan(self, result: RunResult, bus: EventBus, out_dir: Path) -> LoadPlan | None:
        """The steady load of this run: a fraction of the stack's capacity, calibrated now or taken
        from a recent calibration of the same stack, profile and switches."""
        spec = self.topology.load
        if spec is None or self.settings.load_fraction == 0:
            return None
        fraction = self.settings.load_fraction or spec.fraction
        definition = load_definition(
            spec, config_dir=self.topology.source.parent, state_dir=self.stack.run_dir / "load"
        )
        cache = self.stack.run_dir / "capacity.json"
        key = self._capacity_key(definition)
        capacity: CapacityRecord | None = load_cached(cache, key=key, max_age_s=spec.calibration.reuse)
        if self.settings.capacity_rps is not None:
            capacity = CapacityRecord(
                rps=self.settings.capacity_rps,
                fraction=fraction,
                target_rps=0.0,
                profile=self.stack.profile,
                measured_at=time.time(),
                reused=True,
                bound="given with --capacity, not measured",
            )
        if capacity is None:
            bus.emit(EventKind.MESSAGE, text="calibrating the stack's capacity (open-loop steps of load)")
            capacity = await calibrate(
                locustfile=definition.locustfile,
                definition_env=definition.environment,
                host=self.stack.gateway_url,
                out_dir=out_dir / "calibration",
                users=spec.users,
                workers=self.settings.locust_workers,
                steps=spec.calibration.steps,
                step_s=spec.calibration.step,
                request_timeout_s=spec.request_timeout,
                profile=self.stack.profile,
                fraction=fraction,
            )
            store(cache, key, capacity)
        target = round(capacity.rps * fraction, 1)
        capacity = capacity.model_copy(update={"fraction": fraction, "target_rps": target})
        result.capacity = capacity
        bus.emit(
            EventKind.MESSAGE,
            text=f"capacity {capacity.rps:g} req/s ({'reused' if capacity.reused else 'measured'}); "
            f"every scenario runs under {target:g} req/s ({fraction:.0%}), open-loop",
        )
        return LoadPlan(
            locustfile=definition.locustfile,
            definition_env=definition.environment,
            users=spec.users,
            rate_rps=target,
            # Little's law bounds what can be in flight: the rate times the longest a request may take.
            max_in_flight=max(1, math.ceil(target * spec.request_timeout)),
            request_timeout_s=spec.request_timeout,
            capacity_rps=capacity.rps,
            fraction=fraction,
        )

    def _capacity_key(self, definition: LoadDefinition) -> str:
        """Same stack (its topology as data, wherever chaos.yaml was written), load definition,
        gateway, profile and switches → the same capacity."""
        digest = hashlib.sha256()
        stack = {"stores", "links", "services", "service_defaults", "gateway", "proxy", "runtime"}
        digest.update(self.topology.model_dump_json(include=stack).encode())
        if self.topology.load is not None:
            digest.update(self.topology.load.model_dump_json(exclude={"locustfile"}).encode())
        digest.update(definition.fingerprint)
        digest.update(self.stack.gateway_url.encode())
        digest.update(self.stack.profile.encode())
        digest.update(repr(sorted(self.stack.switches.items())).encode())
        return digest.hexdigest()[:16]

    def _preflight(self, scenarios: Sequence[Scenario]) -> None:
        """Before the first sweep or fault: every link and every fault's proxy is on the Toxiproxy."""
        endpoints = Endpoints(proxy_api=self.stack.proxy_api_url, health=self._health_urls())
        problems = check_stack(endpoints, self.topology, scenarios, services=False)
        if problems:
            raise StackError("the stack lacks what the run needs:\n  - " + "\n  - ".join(problems))

    def _sweep(self, controller: FaultController, bus: EventBus) -> None:
        """Leftovers of an earlier run: replay the ledger in reverse; then any toxic named as ours
        that no ledger line accounts for. Nothing else on the Toxiproxy is touched (it may be shared:
        no `/reset`)."""
        leftovers = controller.ledger.active()
        if leftovers:
            bus.emit(EventKind.MESSAGE, text=f"sweeping {len(leftovers)} fault(s) left by an earlier run")
        problems = controller.rollback()
        for fault in controller.ledger.replay():
            gone = [d for e, _, d in fault.history if e is LedgerEvent.GONE]
            if gone and fault.fault_id in {f.fault_id for f in leftovers}:
                bus.emit(EventKind.MESSAGE, text=f"fault {fault.fault_id}: {gone[-1]}; closed in the ledger")
        if problems:
            raise FaultError(
                "could not sweep faults left by an earlier run: "
                + "; ".join(problems)
                + " (`chaosgate faults` lists them; `chaosgate faults --clear` forgets them)"
            )
        try:
            with ToxiproxyClient(self.stack.proxy_api_url, timeout_s=5) as client:
                for name, proxy in client.proxies().items():
                    for toxic in proxy.toxics:
                        if toxic.name.startswith(TOXIC_PREFIX):
                            bus.emit(EventKind.MESSAGE, text=f"removing stray toxic {toxic.name} on {name}")
                            client.remove_toxic(name, toxic.name, missing_ok=True)
        except FaultError as exc:
            raise StackError(f"the fault proxy does not answer: {exc}") from exc

    def _plugin(self) -> ProbePlugin:
        """The named plugin's flows, with the probes, setup and writers chaos.yaml declares."""
        return plugin_for(self.topology)

    def _health_urls(self) -> dict[str, str]:
        """Each service's liveness URL (its own `health` path, else service_defaults.live)."""
        return {
            name: f"{self.stack.url_of(name)}{self.topology.health_path(name)}"
            for name in self.stack.services
        }
