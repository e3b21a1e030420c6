"""Typed models of a scenario file: what to break, what load to run, what the hardened stack should do."""

from __future__ import annotations

import difflib
import functools
import operator
import types
import typing
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    StrictInt,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chaosgate.durations import Duration
from chaosgate.toxics import ATTRIBUTES, Stream, ToxicType

SLUG = r"^[a-z0-9][a-z0-9-]*$"

# A scenario breaks a stack for seconds to minutes. Past a day, a duration is a slip of the unit
# (`h` for `m`), and honouring it would keep a shared stack broken and a CI job waiting for a day.
MAX_DURATION_S = 24 * 3600


def _at_most_a_day(seconds: float) -> float:
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration is at most 24h ({MAX_DURATION_S} s)")
    return seconds


BoundedDuration = Annotated[Duration, AfterValidator(_at_most_a_day)]
"""A Duration of at most a day."""

# Names end up in file names, report titles and log lines: bounded so none of those break.
Name = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    """Unknown keys are errors, so a typo never silently turns a fault into a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(StrEnum):
    """The fail behaviour a scenario expects of a feature while its dependency is broken."""

    SERVED = "served"  # fail-open: answers normally
    DEGRADED = "degraded"  # answers, marked as served from a fallback
    REJECTED = "rejected"  # fail-closed: a clean 429/503 within the probe timeout


def _attribute_error(message: str, *at: str) -> PydanticCustomError:
    # `at` points the error below the toxic, at the attribute (chaosgate.yamlio reads it).
    return PydanticCustomError("toxic_attributes", message, {"at": ("attributes", *at)})


class Toxic(Strict):
    type: ToxicType
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = Field(1.0, gt=0.0, le=1.0)  # 0 would never apply the toxic
    attributes: dict[Annotated[str, Field(max_length=32)], StrictInt] = Field(
        default_factory=dict, max_length=8
    )

    @model_validator(mode="after")
    def _attributes_fit_the_type(self) -> Toxic:
        specs = ATTRIBUTES[self.type]
        kind = self.type.value
        for name, value in self.attributes.items():
            spec = specs.get(name)
            if spec is None:
                close = difflib.get_close_matches(name, list(specs), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                valid = ", ".join(specs)
                raise _attribute_error(
                    f"toxic {kind!r} has no attribute {name!r}{hint}; valid: {valid}", name
                )
            if not spec.minimum <= value <= spec.maximum:
                raise _attribute_error(
                    f"{name} is {spec.minimum} to {spec.maximum} {spec.unit} (got {value})", name
                )
        for name, spec in specs.items():
            if spec.required and name not in self.attributes:
                at = (name,) if self.attributes else ()
                raise _attribute_error(f"toxic {kind!r} needs attribute {name!r} ({spec.unit})", *at)
        get = self.attributes.get
        if self.type is ToxicType.LATENCY and get("latency") == 0 and not get("jitter"):
            raise _attribute_error("latency 0 ms with no jitter adds no delay", "latency")
        if self.type is ToxicType.SLICER and get("size_variation", 0) >= get("average_size", 1):
            raise _attribute_error("size_variation must be smaller than average_size", "size_variation")
        return self


class FaultBase(Strict):
    """What every fault has. Each injector's model narrows `injector` to its own name (a Literal):
    the tag that picks the model, for the built-in injectors and plugins alike."""

    start: BoundedDuration = 0.0  # offset from the start of the fault phase
    duration: BoundedDuration = Field(..., gt=0)  # after which the fault is removed (and its deadline)
    injector: str


class ToxiproxyFault(FaultBase):
    """A link fault through the proxy: take it down, or add a toxic."""

    injector: Literal["toxiproxy"]
    proxy: Name
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
    service: Name
    signal: Literal["SIGKILL", "SIGSTOP", "SIGTERM"] = "SIGKILL"


class PoolFault(FaultBase):
    """Exhaust connections to a SQL store. `idle`/`query`: take every connection the server allows
    (idle, or each running a long query) and evict the others. `lock`: hold exclusive locks on every
    table, so each query the services send waits and their pools drain, as under runaway slow queries."""

    injector: Literal["pool"]
    store: Name
    connections: int = Field(..., ge=1, le=10_000)
    mode: Literal["idle", "query", "lock"] = "idle"


class WsFloodFault(FaultBase):
    """Open many concurrent WebSocket connections through the gateway (bounded in count and time)."""

    injector: Literal["wsflood"]
    connections: int = Field(..., ge=1, le=20_000)
    path: str = Field(..., pattern=r"^/", max_length=256)  # the WebSocket route, through the gateway
    rate: float = Field(200.0, gt=0, le=5_000)  # connections opened per second


# A compose service (found by the compose labels) or a container's own name.
ContainerName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class DockerFault(FaultBase):
    """Kill, stop, pause or restart a container through the Docker API (compose runtime). A killed or
    stopped container is started again on removal, a paused one unpaused."""

    injector: Literal["docker"]
    container: ContainerName
    action: Literal["kill", "stop", "pause", "restart"] = "kill"


class PartitionFault(FaultBase):
    """Cut a container off the stack's network: disconnected from it (its peers' connections hang, its
    name stops resolving), reconnected with the same aliases on removal."""

    injector: Literal["partition"]
    container: ContainerName


_PERCENT = Field(0.0, ge=0.0, le=100.0)


class NetemFault(FaultBase):
    """Degrade what a container sends (netem on its interface in the stack's network): delay with
    jitter, loss, corruption, duplication, a rate cap. At least one; removal deletes the qdisc."""

    injector: Literal["netem"]
    container: ContainerName
    delay_ms: int = Field(0, ge=0, le=60_000)
    jitter_ms: int = Field(0, ge=0, le=60_000)
    loss: float = _PERCENT  # percent of packets dropped
    corrupt: float = _PERCENT
    duplicate: float = _PERCENT
    rate_kbit: int | None = Field(None, ge=8, le=10_000_000)

    @model_validator(mode="after")
    def _does_something(self) -> NetemFault:
        if self.jitter_ms and self.jitter_ms > self.delay_ms:
            raise ValueError("jitter_ms must not exceed delay_ms (netem varies the delay by it)")
        if not (self.delay_ms or self.loss or self.corrupt or self.duplicate or self.rate_kbit):
            raise ValueError(
                "a netem fault needs at least one of delay_ms, loss, corrupt, duplicate, rate_kbit"
            )
        return self


# Docker refuses memory limits under 6 MiB; past a TiB is a slip of the unit.
MemoryLimit = Annotated[ByteSize, Field(ge=6 * 2**20, le=2**40)]


class PressureFault(FaultBase):
    """Squeeze a container's CPU (`cpus`, a share of one core) and/or memory (`memory`, e.g. 32MiB):
    its cgroup limits are lowered through the Docker API and restored on removal. A container the
    kernel kills for memory is started again on removal."""

    injector: Literal["pressure"]
    container: ContainerName
    cpus: float | None = Field(None, ge=0.01, le=64)
    memory: MemoryLimit | None = None

    @model_validator(mode="after")
    def _squeezes_something(self) -> PressureFault:
        if self.cpus is None and self.memory is None:
            raise ValueError("a pressure fault needs `cpus` (e.g. 0.1), `memory` (e.g. 32MiB) or both")
        return self


class DiskFault(FaultBase):
    """Fill a store's data volume with one file until `leave` bytes are free (default none); the
    file is deleted on removal."""

    injector: Literal["disk"]
    store: Name
    leave: Annotated[ByteSize, Field(ge=0, le=2**40)] = ByteSize(0)


Fault = Annotated[
    ToxiproxyFault
    | ProcessFault
    | PoolFault
    | WsFloodFault
    | DockerFault
    | PartitionFault
    | NetemFault
    | PressureFault
    | DiskFault,
    Field(discriminator="injector"),
]
BUILTIN_FAULTS: tuple[type[FaultBase], ...] = typing.get_args(typing.get_args(Fault)[0])
BUILTIN_INJECTORS: frozenset[str] = frozenset(
    typing.get_args(f.model_fields["injector"].annotation)[0] for f in BUILTIN_FAULTS
)


def fault_type(plugins: Iterable[type[FaultBase]] = ()) -> Any:
    """The Fault union with plugin fault models beside the built-in ones, told apart by `injector`."""
    extra = tuple(plugins)
    if not extra:
        return Fault
    union = functools.reduce(operator.or_, (*BUILTIN_FAULTS, *extra))
    return Annotated[union, Field(discriminator="injector")]


class Load(Strict):
    """This scenario's share of the calibrated capacity, instead of chaos.yaml's `load.fraction`;
    0 runs it without load."""

    fraction: float = Field(..., ge=0, le=1)


class Workload(Strict):
    # Ledger writers by name, as chaos.yaml's `writers` declares them (checked against it on load):
    # each write has a unique id and is read back after recovery.
    writers: list[Name] = Field(default_factory=list, max_length=20)
    rate: float = Field(5.0, gt=0, le=500)  # writes per second per writer
    load: Load | None = None


class SteadyState(Strict):
    window: BoundedDuration = 3.0  # probes before any fault; the system must be healthy throughout


class StopConditions(Strict):
    # abort the fault early when more than this share of *unaffected* features goes unhealthy
    max_blast_radius: float = Field(1.0, ge=0.0, le=1.0)


class Recovery(Strict):
    target: BoundedDuration = 5.0  # full recovery score at or below this
    timeout: BoundedDuration = 60.0  # zero recovery score (and a cascade) past this

    @model_validator(mode="after")
    def _target_within_timeout(self) -> Recovery:
        if self.target > self.timeout:
            raise ValueError("recovery.target must not exceed recovery.timeout")
        return self

    def timeout_at(self, time_scale: float) -> float:
        """The timeout, shortened with the time scale like the fault (a smoke run waits less for what
        never comes back), never below twice the target plus 5 s."""
        if time_scale >= 1.0:
            return self.timeout
        return min(self.timeout, max(self.timeout * time_scale, 2 * self.target + 5.0))


class Scenario(Strict):
    name: str = Field(..., pattern=SLUG, max_length=64)  # also the stem of its report files
    title: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    target: Name  # the component the faults break; decides affected vs unaffected features
    weight: float = Field(5.0, ge=0, le=10)
    # More faults or expectations than any stack has links or features is a generated file gone wrong.
    faults: list[Fault] = Field(..., min_length=1, max_length=50)
    workload: Workload = Workload()
    expect: dict[Annotated[str, Field(min_length=1, max_length=128)], Outcome] = Field(
        default_factory=dict, max_length=200
    )
    steady_state: SteadyState = SteadyState()
    stop: StopConditions = StopConditions()
    recovery: Recovery = Recovery()
    # The target's hardening switches whose fix this scenario's faults exercise: what the regression
    # matrix (bench/gate.py) and `compare --per-switch` credit a score difference to.
    exercises: list[Name] = Field(default_factory=list, max_length=50)
    # This scenario's own readiness floor at the gate, where a fix's loss shows only as a few points
    # (measured by bench/gate.py against the hardened run-to-run spread).
    min_readiness: float | None = Field(None, ge=0, le=100)

    @property
    def fault_window(self) -> float:
        """Seconds from the first injection until the last fault's duration ends."""
        return max(f.start + f.duration for f in self.faults)


def scenario_model(plugins: Iterable[type[FaultBase]] = ()) -> type[Scenario]:
    """Scenario whose faults may also be the given plugin faults (Scenario itself when none): built
    when scenarios are loaded, so plugin faults are validated, and their errors located, like any."""
    extra = tuple(plugins)
    if not extra:
        return Scenario
    faults: Any = (types.GenericAlias(list, (fault_type(extra),)), Scenario.model_fields["faults"])
    return create_model("Scenario", __base__=Scenario, __module__=__name__, faults=faults)
