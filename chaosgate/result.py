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
    score: ScoreRecord | None = None


class GateResult(Model):
    min_score: float | None
    floors: dict[str, str]
    passed: bool
    reasons: list[str]


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
