"""Typed models of a scenario file: what to break, what load to run, what the hardened stack should do."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaosgate.durations import Duration

SLUG = r"^[a-z0-9][a-z0-9-]*$"


class Strict(BaseModel):
    """Unknown keys are errors, so a typo never silently turns a fault into a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(StrEnum):
    """The fail behaviour a scenario expects of a feature while its dependency is broken."""

    SERVED = "served"  # fail-open: answers normally
    DEGRADED = "degraded"  # answers, marked as served from a fallback
    REJECTED = "rejected"  # fail-closed: a clean 429/503 within the probe timeout


class ToxicType(StrEnum):
    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"


TOXIC_ATTRIBUTES: dict[ToxicType, frozenset[str]] = {
    ToxicType.LATENCY: frozenset({"latency", "jitter"}),
    ToxicType.BANDWIDTH: frozenset({"rate"}),
    ToxicType.SLOW_CLOSE: frozenset({"delay"}),
    ToxicType.TIMEOUT: frozenset({"timeout"}),
    ToxicType.RESET_PEER: frozenset({"timeout"}),
    ToxicType.SLICER: frozenset({"average_size", "size_variation", "delay"}),
    ToxicType.LIMIT_DATA: frozenset({"bytes"}),
}


class Toxic(Strict):
    type: ToxicType
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_attributes(self) -> Toxic:
        allowed = TOXIC_ATTRIBUTES[self.type]
        unknown = sorted(set(self.attributes) - allowed)
        if unknown:
            valid = ", ".join(sorted(allowed))
            raise ValueError(f"toxic {self.type.value!r} has no attribute {unknown[0]!r}; valid: {valid}")
        return self


class FaultBase(Strict):
    start: Duration = 0.0  # offset from the start of the fault phase
    duration: Duration = Field(..., gt=0)  # after which the fault is removed (and its deadline)


class ToxiproxyFault(FaultBase):
    """A link fault through the proxy: take it down, or add a toxic."""

    injector: Literal["toxiproxy"]
    proxy: str
    down: bool = False
    toxic: Toxic | None = None

    @model_validator(mode="after")
    def _one_action(self) -> ToxiproxyFault:
        if self.down == (self.toxic is not None):
            raise ValueError("a toxiproxy fault takes exactly one of `down: true` or `toxic: {...}`")
        return self


class ProcessFault(FaultBase):
    """Signal a service process of the local runtime; a killed service is restarted on rollback."""

    injector: Literal["process"]
    service: str
    signal: Literal["SIGKILL", "SIGSTOP", "SIGTERM"] = "SIGKILL"


class PoolFault(FaultBase):
    """Exhaust connections to a SQL store. `idle`/`query`: take every connection the server allows
    (idle, or each running a long query) and evict the others. `lock`: hold exclusive locks on every
    table, so each query the services send waits and their pools drain, as under runaway slow queries."""

    injector: Literal["pool"]
    store: str
    connections: int = Field(..., ge=1, le=10_000)
    mode: Literal["idle", "query", "lock"] = "idle"


class WsFloodFault(FaultBase):
    """Open many concurrent WebSocket connections through the gateway (bounded in count and time)."""

    injector: Literal["wsflood"]
    connections: int = Field(..., ge=1, le=20_000)
    path: str = "/v1/chat/ws"
    rate: float = Field(200.0, gt=0, le=5_000)  # connections opened per second


class ProviderFault(FaultBase):
    """Switch the push-provider simulator's failure mode."""

    injector: Literal["provider"]
    mode: Literal["503", "429", "slow", "invalid-tokens"]
    delay_ms: int = Field(0, ge=0, le=120_000)  # for mode slow
    retry_after_s: int = Field(1, ge=0, le=3600)  # for mode 429


class DockerFault(FaultBase):
    """Kill, stop or pause a compose container through the Docker API (compose runtime only)."""

    injector: Literal["docker"]
    container: str
    action: Literal["kill", "stop", "pause"] = "kill"


Fault = Annotated[
    ToxiproxyFault | ProcessFault | PoolFault | WsFloodFault | ProviderFault | DockerFault,
    Field(discriminator="injector"),
]


class Writer(StrEnum):
    """Ledger writers: each write has a unique id and is read back after recovery."""

    CHAT_MESSAGES = "chat.messages"
    POLL_VOTES = "poll.votes"
    CALL_RECORDS = "video.calls"
    FILE_UPLOADS = "storage.files"
    PUSH_NOTIFICATIONS = "push.notifications"


class Load(Strict):
    """This scenario's share of the calibrated capacity, instead of chaos.yaml's `load.fraction`;
    0 runs it without load."""

    fraction: float = Field(..., ge=0, le=1)


class Workload(Strict):
    writers: list[Writer] = Field(default_factory=list)
    rate: float = Field(5.0, gt=0, le=500)  # writes per second per writer
    load: Load | None = None


class SteadyState(Strict):
    window: Duration = 3.0  # probes before any fault; the system must be healthy throughout


class StopConditions(Strict):
    # abort the fault early when more than this share of *unaffected* features goes unhealthy
    max_blast_radius: float = Field(1.0, ge=0.0, le=1.0)


class Recovery(Strict):
    target: Duration = 5.0  # full recovery score at or below this
    timeout: Duration = 60.0  # zero recovery score (and a cascade) past this

    @model_validator(mode="after")
    def _target_within_timeout(self) -> Recovery:
        if self.target > self.timeout:
            raise ValueError("recovery.target must not exceed recovery.timeout")
        return self


class Scenario(Strict):
    name: str = Field(..., pattern=SLUG)
    title: str = Field(..., min_length=1)
    description: str = ""
    target: str  # the component the faults break; decides affected vs unaffected features
    weight: float = Field(5.0, ge=0, le=10)
    faults: list[Fault] = Field(..., min_length=1)
    workload: Workload = Workload()
    expect: dict[str, Outcome] = Field(default_factory=dict)
    steady_state: SteadyState = SteadyState()
    stop: StopConditions = StopConditions()
    recovery: Recovery = Recovery()
    # The target's hardening switches whose fix this scenario's faults exercise: what the regression
    # matrix (bench/gate.py) and `compare --per-switch` credit a score difference to.
    exercises: list[str] = Field(default_factory=list)
    # This scenario's own readiness floor at the gate, where a fix's loss shows only as a few points
    # (measured by bench/gate.py against the hardened run-to-run spread).
    min_readiness: float | None = Field(None, ge=0, le=100)

    @property
    def fault_window(self) -> float:
        """Seconds from the first injection until the last fault's duration ends."""
        return max(f.start + f.duration for f in self.faults)
