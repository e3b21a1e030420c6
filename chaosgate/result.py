"""The run's result as typed data: what result.json holds and what reports are rendered from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chaosgate.scoring import FailBehaviour, Label, ProbeOutcome


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleRecord(Model):
    target: str  # a feature, or `health:<component>`
    t: float  # seconds since the scenario started
    phase: str
    outcome: ProbeOutcome
    latency_ms: float
    detail: str = ""


class MetricRecord(Model):
    name: str  # a query's name from chaos.yaml `probes.queries`
    t: float
    value: float  # NaN when Prometheus had no answer


class FaultRecord(Model):
    fault_id: str
    injector: str
    spec: dict[str, object]
    events: list[tuple[str, float, str]] = Field(default_factory=list)  # (event, t, detail)


class WriterRecord(Model):
    attempted: int
    acknowledged: int
    lost: int
    recovered: int
    unexpected: int
    ephemeral: bool


class EndpointLoad(Model):
    """One endpoint (or all of them) under Locust load over some span of time."""

    requests: int
    failures: int
    rps: float
    p95_ms: float | None  # in a phase: the worst of Locust's rolling 10 s p95 within it


class PhaseLoad(Model):
    phase: str  # baseline | fault | recovery
    start: float  # seconds since the scenario started
    end: float
    requests: int
    failures: int
    rps: float
    failure_rate: float
    p95_ms: float | None
    endpoints: dict[str, EndpointLoad] = Field(default_factory=dict)


class LoadRecord(Model):
    """What the Locust workload saw: per phase and over the whole load run."""

    users: int
    spawn_rate: float
    workers: int  # 0: one local Locust process; N: a master and N workers
    phases: list[PhaseLoad] = Field(default_factory=list)
    totals: dict[str, EndpointLoad] = Field(default_factory=dict)
    message: str = ""  # why figures are missing, when they are


class ScoreRecord(Model):
    readiness: float
    isolation: float
    isolation_label: Label
    unhealthy_unaffected: list[str]
    cascade_label: Label
    cascaded: list[str]
    cascaded_share: float
    data: float
    data_label: Label
    behaviour: dict[str, FailBehaviour]
    expected: dict[str, FailBehaviour]
    behaviour_match: float
    recovery: float
    components: dict[str, float]


class ScenarioResult(Model):
    name: str
    title: str
    target: str
    weight: float
    status: str  # completed | aborted | error
    message: str = ""
    started_at: float
    duration_s: float = 0.0
    affected: list[str] = Field(default_factory=list)
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
    score: ScoreRecord | None = None


class GateResult(Model):
    min_score: float | None
    floors: dict[str, str]
    passed: bool
    reasons: list[str]


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
