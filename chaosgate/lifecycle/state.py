"""What every phase of one scenario shares: the runner's parts, the settings, and the scenario's run state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from chaosgate.cpu import CpuMeter
from chaosgate.errors import RunError
from chaosgate.events import EventBus, EventKind
from chaosgate.faults import FaultController
from chaosgate.load.plan import LoadPlan
from chaosgate.observe import Clock, SampleLog
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.control import ControlVerdict
from chaosgate.probes.plugin import ProbePlugin
from chaosgate.result import ScenarioResult
from chaosgate.samples import FeatureStats, Phase
from chaosgate.scenario.models import Scenario
from chaosgate.scoring import Weights
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


@dataclass(frozen=True)
class Parts:
    """What the runner was built with: the same for every scenario of a run."""

    topology: Topology
    controller: FaultController
    plugin: ProbePlugin
    gateway_url: str
    health_urls: Mapping[str, str]
    bus: EventBus
    settings: RunSettings
    weights: Weights
    artifacts: Path | None  # where a scenario's Locust files go (a temp dir when None)
    load: LoadPlan | None  # the steady load every window runs under (None: no load)
    restart: Restarter | None  # brings back what did not recover by itself (local runtime)
    # The stack's processes on this machine (None: unknown): CPU outside them and the harness
    # is a neighbour's.
    stack_processes: Callable[[], list[int] | None] | None

    @property
    def features(self) -> list[str]:
        """The plugin's probes of features this topology has."""
        return [f for f in self.plugin.probes if f in self.topology.features]


class PhaseStep(Protocol):
    """One phase of the lifecycle: enters `phase` (and any it passes through) and does its work."""

    @property
    def phase(self) -> Phase: ...

    async def __call__(self, run: ScenarioRun) -> None: ...


@dataclass
class ScenarioRun:
    """One scenario in flight: its record, clock, samples, probe context and CPU marks."""

    parts: Parts
    scenario: Scenario
    result: ScenarioResult
    clock: Clock
    log: SampleLog
    ctx: ProbeContext
    cpu: CpuMeter
    # What one phase hands the next.
    writers: list[WriterLoop] = field(default_factory=list)  # workload -> verify
    rolled_back_at: float = 0.0  # recover -> verify
    not_back: list[str] = field(default_factory=list)  # recover -> score: not back at the timeout
    noise: ControlVerdict | None = None  # recover -> score: the control while they were not back
    checks: dict[str, WriterCheck] = field(default_factory=dict)  # verify -> score

    @property
    def settings(self) -> RunSettings:
        return self.parts.settings

    def enter(self, phase: Phase) -> None:
        """The lifecycle moves on: new samples carry `phase`, observers hear of it."""
        self.log.phase = phase
        self.parts.bus.emit(EventKind.PHASE, self.scenario.name, phase=phase.value, t=round(self.clock(), 3))

    def note(self, text: str) -> None:
        """Add to the scenario's message (what a reader of the result should know)."""
        result = self.result
        result.message = f"{result.message}; {text}" if result.message else text

    def recovery_timeout(self) -> float:
        return self.scenario.recovery.timeout_at(self.settings.time_scale)

    def latency_limit(self, target: str) -> float:
        """The isolation rule's latency bound for `target`, from its steady window."""
        base = FeatureStats.of(self.log.samples(target, Phase.STEADY)).p95_s
        return max(3 * base, base + 0.250)

    def judged_window(self) -> tuple[float, float] | None:
        """Where the fault was in place (the active window); a fault never verified in place within its
        window (an injector that could not finish applying it) is judged over the whole fault window, so
        its features are measured rather than read as having answered nothing."""
        return self.result.active_window or self.result.fault_window
