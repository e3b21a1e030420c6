"""The run's result as typed data: what result.json holds and what reports are rendered from."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from chaosgate.samples import Phase
from chaosgate.samples import SampleRecord as SampleRecord  # result.json's samples: the probes' own
from chaosgate.scoring import FailBehaviour, Label


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioStatus(StrEnum):
    """How a scenario's run ended; only a completed one has a score."""

    RUNNING = "running"  # in result.json only while it runs, or if the harness itself died
    COMPLETED = "completed"
    ABORTED = "aborted"  # not steady before any fault: nothing was touched
    ERROR = "error"  # a fault or a probe failed; faults were rolled back
    INTERRUPTED = "interrupted"  # a signal stopped it; faults were rolled back


class MetricRecord(Model):
    name: str  # a query's name from chaos.yaml `probes.queries`
    t: float
    value: float  # NaN when Prometheus had no answer


class FaultRecord(Model):
    fault_id: str
    injector: str
    spec: dict[str, object]
    events: list[tuple[str, float, str]] = Field(default_factory=list)  # (event, t, detail)


class WriterPhaseRecord(Model):
    """One writer's counts for the writes attempted in one phase (before / fault / recovery)."""

    attempted: int
    acknowledged: int
    lost: int  # acknowledged in this phase, not read back
    recovered: int  # attempted in this phase, never acknowledged, read back


class WriterRecord(Model):
    attempted: int
    acknowledged: int
    lost: int
    recovered: int
    unexpected: int
    ephemeral: bool
    # phase (WRITER_PHASES) -> counts of the writes attempted in it; data loss is measured only when
    # the `fault` phase attempted writes (scoring rules v3)
    phases: dict[str, WriterPhaseRecord] = Field(default_factory=dict)
    lost_ids: list[str] = Field(default_factory=list)  # at most ID_LIMIT, sorted
    recovered_ids: list[str] = Field(default_factory=list)
    # non-empty: the read-back could not see (a path matching nothing, a listing yielding no id):
    # nothing is counted lost, and the writer does not make data loss measured
    cannot_tell: str = ""


WRITER_PHASES = ("before", "fault", "recovery")
ID_LIMIT = 1000


class CascadeKind(StrEnum):
    """How harm travelled beyond the fault (scoring rules v3)."""

    FEATURE = "collateral-feature"  # a feature with no dependency path to the faulted component
    COMPONENT = "collateral-component"  # another component lost liveness (or slowed off the fault's path)
    PERSISTENCE = "persistence"  # not back at baseline when the recovery timeout ended


class CascadePath(Model):
    """One feature or component the harm reached, and the way it got there."""

    kind: CascadeKind
    name: str  # a feature or a component
    severity: str  # unhealthy | slow | degraded | down | not recovered | restarted
    path: str  # e.g. "objectstore <- storage <- gateway -> auth.login (shared: gateway)"


class LinkRate(Model):
    """Amplification: traffic through one link per second, steady against the fault (shown, not scored)."""

    link: str
    role: str  # "faulted" (the fault's own link) or "caller" (a link into a service that calls it)
    unit: str  # "connections/s" or "bytes/s"
    steady: float | None
    fault: float | None
    ratio: float | None  # fault / steady


class ControlRecord(Model):
    """The run's control: a trivial probe outside the target, and the harness's own CPU share, per
    window. A latency verdict in a window where the control slowed as much is inconclusive."""

    steady_p95_ms: float | None
    fault_p95_ms: float | None
    ratio: float | None  # fault p95 / steady p95 of the control
    steady_count: int = 0
    fault_count: int = 0
    harness_cpu_steady: float | None = None  # share of the machine's CPU, 0..1
    harness_cpu_fault: float | None = None
    # what processes outside the harness and the stack it started took (local runtime only), 0..1
    neighbour_cpu_steady: float | None = None
    neighbour_cpu_fault: float | None = None
    saturated: bool = False  # the control slowed in the fault window: latency verdicts there are void
    recovery_p95_ms: float | None = None  # the control after rollback, when something was not back
    recovery_saturated: bool = False  # ...and it was slow too: persistence and recovery are void
    reason: str = ""


class EndpointLoad(Model):
    """One endpoint (or all of them) under Locust load over some span of time."""

    requests: int
    failures: int
    rps: float
    p95_ms: float | None  # in a phase: the worst of Locust's rolling 10 s p95 within it


# The load's figures are stored under these labels (result.json, reports): the lifecycle's phases
# by the names load testers use.
LOAD_LABELS: dict[Phase, str] = {Phase.STEADY: "baseline", Phase.FAULT: "fault", Phase.RECOVER: "recovery"}


class PhaseLoad(Model):
    phase: str  # a LOAD_LABELS value: baseline | fault | recovery
    start: float  # seconds since the scenario started
    end: float
    requests: int
    failures: int
    rps: float
    failure_rate: float
    p95_ms: float | None
    endpoints: dict[str, EndpointLoad] = Field(default_factory=dict)
    in_flight: float | None = None  # Little's law: rps x mean latency over the phase


class LoadRecord(Model):
    """What the Locust workload saw: per phase and over the whole load run."""

    users: int
    spawn_rate: float
    workers: int  # 0: one local Locust process; N: a master and N workers
    mode: str = "closed-loop"  # "open-loop": arrivals at a set rate, not waiting for answers
    target_rps: float | None = None  # the offered rate (open-loop)
    fraction: float | None = None  # target_rps as a share of the calibrated capacity
    capacity_rps: float | None = None
    max_in_flight: int | None = None  # the bound on requests in flight (count-bounded load)
    harness_cpu_share: float | None = None  # CPU of the harness + Locust over the machine's, 0..1
    phases: list[PhaseLoad] = Field(default_factory=list)
    totals: dict[str, EndpointLoad] = Field(default_factory=dict)
    message: str = ""  # why figures are missing, when they are


class ScoreRecord(Model):
    """Scoring rules v2 (ARCHITECTURE.md). A dimension that was not measured is None / Label.NA:
    left out of the weights, shown as n/a."""

    readiness: float
    isolation: float | None  # containment over the must-survive features; None: none was probed
    isolation_label: Label
    unhealthy_unaffected: list[str]  # must-survive features that were not healthy during the fault
    broken: list[str] = Field(default_factory=list)  # features that hard-depend on the target
    must_survive: list[str] = Field(default_factory=list)  # every other probed feature
    cascade_label: Label
    cascaded: list[str]
    cascaded_share: float
    data: float | None  # None: no ledger writer covered a broken feature
    data_label: Label
    behaviour: dict[str, FailBehaviour]  # broken feature -> dominant outcome (shown, not scored)
    # broken feature -> ProbeOutcome value -> share of the active window's samples
    behaviour_shares: dict[str, dict[str, float]] = Field(default_factory=dict)
    expected: dict[str, FailBehaviour]
    behaviour_match: float | None  # the fail-behaviour dimension, 0..1 by time share; None: n/a
    recovery: float | None  # None: not back when the control too was still slow (inconclusive)
    components: dict[str, float | None]  # dimension -> 0..1, None when n/a
    weights: dict[str, float] = Field(default_factory=dict)  # the weights that counted (n/a left out)
    # rules v3
    cascade_paths: list[CascadePath] = Field(default_factory=list)
    amplification: list[LinkRate] = Field(default_factory=list)
    not_recovered: list[str] = Field(default_factory=list)  # features not back when recovery timed out
    inconclusive: list[str] = Field(default_factory=list)  # features whose latency verdict was void
    data_reason: str = ""  # why data loss is n/a or cannot tell, in words
    # latency verdicts: feature -> steady sample count and the p95's own uncertainty (ms)
    steady_samples: dict[str, int] = Field(default_factory=dict)


class ClaimRecord(Model):
    """One scenario's row of a reliability report (a claim to test), beside what was measured."""

    source: str  # the report it comes from
    name: str  # the report's own name for the scenario
    isolation: str | None = None  # YES | PARTIAL | NO
    cascades: str | None = None  # NO | PARTIAL | YES
    data_loss: str | None = None  # NO | PARTIAL | YES
    fail_behaviour: str | None = None  # FAIL-OPEN | DEGRADED | FAIL-CLOSED | ...
    readiness: float | None = None
    agreement: dict[str, bool] = Field(default_factory=dict)  # dimension -> measured matches claim


class CapacityStep(Model):
    offered_rps: float
    achieved_rps: float
    p95_ms: float | None
    failure_rate: float
    within_bounds: bool


class CapacityRecord(Model):
    """The calibrated capacity of the stack on this profile: the highest offered rate at which
    latency and failures stayed within bounds."""

    rps: float
    fraction: float  # of capacity, the steady load every scenario runs under
    target_rps: float
    profile: str
    measured_at: float  # epoch seconds of the calibration
    reused: bool  # taken from a recent calibration of the same stack and profile
    bound: str  # the latency/failure bound, in words
    steps: list[CapacityStep] = Field(default_factory=list)


class ScenarioResult(Model):
    name: str
    title: str
    target: str
    weight: float
    status: ScenarioStatus
    message: str = ""
    started_at: float
    duration_s: float = 0.0
    affected: list[str] = Field(default_factory=list)
    exercises: list[str] = Field(default_factory=list)  # the scenario's `exercises`: switches it tests
    min_readiness: float | None = None  # the scenario's own floor at the gate
    fault_window: tuple[float, float] | None = None  # t of first injection, t of rollback end
    # From the first fault verified to the first removal begun: samples wholly inside it are
    # what "during the fault" means for scoring.
    active_window: tuple[float, float] | None = None
    recovery_s: float | None = None
    faults: list[FaultRecord] = Field(default_factory=list)
    writers: dict[str, WriterRecord] = Field(default_factory=dict)
    samples: list[SampleRecord] = Field(default_factory=list)
    metrics: list[MetricRecord] = Field(default_factory=list)
    load: LoadRecord | None = None
    control: ControlRecord | None = None
    restarted: list[str] = Field(default_factory=list)  # services restarted after a failed recovery
    score: ScoreRecord | None = None
    claim: ClaimRecord | None = None  # what a report claims of this scenario (chaos.yaml `claims`)


class GateResult(Model):
    min_score: float | None
    floors: dict[str, str]
    passed: bool
    reasons: list[str]
    # Verdicts the gate could not stand on (a dimension judged on a saturated machine). With no
    # failure besides, the gate is neither passed nor failed: `verdict` INCONCLUSIVE, exit 4.
    inconclusive: list[str] = Field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.passed:
            return "FAIL"
        return "INCONCLUSIVE" if self.inconclusive else "PASS"


class Spread(Model):
    """One dimension over a scenario's repetitions."""

    mean: float
    min: float
    max: float
    stdev: float


class ScenarioRepeat(Model):
    runs: int
    completed: int
    gated_run: int  # index (0-based) among this scenario's repetitions of the run the gate judged
    dimensions: dict[str, Spread]  # readiness, isolation, cascaded_share, data, behaviour_match, ...


class RepeatRecord(Model):
    """`chaosgate run --repeat N`: every repetition stays in `scenarios`; this is their aggregate."""

    repeat: int
    gate_on: str  # worst | p50 | p90
    scenarios: dict[str, ScenarioRepeat] = Field(default_factory=dict)


class RunResult(Model):
    run_id: str
    started_at: float
    finished_at: float | None = None
    profile: str
    runtime: str
    backends: dict[str, str]  # role -> what stood behind it
    scenarios: list[ScenarioResult] = Field(default_factory=list)
    overall: float | None = None
    gate: GateResult | None = None
    repeat: RepeatRecord | None = None
    capacity: CapacityRecord | None = None
    harness_cpu_share: float | None = None  # CPU of chaosgate (harness + Locust) over the machine's
    claims_source: str | None = None  # the reports whose claims sit beside the measurements
    claimed_overall: float | None = None  # the overall readiness the reports claim for this profile
    interrupted: bool = False  # a signal stopped the run; the scenarios it holds are those begun
