"""The one interface every fault injector implements (built-in or a plugin's), the environment
injectors are built from, and the runtimes they act on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from chaosgate.scenario.models import FaultBase
from chaosgate.topology import Topology

SpecT = TypeVar("SpecT", bound=FaultBase)

Runtime = Literal["local", "compose", "remote"]
"""Where the stack runs: chaosgate's local processes, a compose project here, or another host."""
EVERY_RUNTIME: frozenset[Runtime] = frozenset({"local", "compose", "remote"})


def runtime_of(topology: Topology) -> Runtime:
    """The runtime a run on this topology uses: `remote` when chaos.yaml has `remote:`."""
    return "remote" if topology.remote is not None else topology.runtime


HandleData = dict[str, Any]
"""What `apply` learned that `remove` needs (a toxic's name, a pid...): JSON, kept in the fault ledger."""


class ServiceProcesses(Protocol):
    """The service processes this machine runs (the local runtime): what `process` faults signal."""

    def pid_of(self, name: str) -> int | None: ...

    def kill_service(self, name: str) -> None: ...

    def start_service(self, name: str) -> None: ...


@dataclass(frozen=True)
class FaultEnvironment:
    """What injectors may touch; built once per run by the root object and handed to every injector."""

    topology: Topology
    proxy_api_url: str
    gateway_url: str
    stack: ServiceProcesses | None = None  # only where this machine runs the services (local runtime)
    docker_host: str | None = None  # chaos.yaml's remote.docker_host; else DOCKER_HOST or the socket
    call_timeout_s: float = 5.0
    runtime: Runtime = "local"

    @property
    def host(self) -> str:
        """Where the stack's ports answer (chaos.yaml's remote.host, else loopback)."""
        return self.topology.host


class Injector(ABC, Generic[SpecT]):
    """apply → verify → remove, for one family of faults. `remove` must be idempotent: rollback,
    the deadline watchdog and the next run's sweep may all call it for the same fault.

    `name` is what scenarios write as `injector:`; `fault` is the model of those faults, a FaultBase
    whose `injector` field is `Literal[name]` (scenario files and the fault ledger validate with it)."""

    name: ClassVar[str]
    fault: ClassVar[type[FaultBase]]
    # Where its faults can act (container faults need containers): a run elsewhere is refused before
    # anything is touched, naming the runtimes that would do.
    runtimes: ClassVar[frozenset[Runtime]] = EVERY_RUNTIME

    def __init__(self, env: FaultEnvironment) -> None:
        self.env = env

    @abstractmethod
    def apply(self, spec: SpecT, *, fault_id: str) -> HandleData:
        """Break the thing; return what removal will need. `fault_id` is unique per run and fault."""

    @abstractmethod
    def verify(self, spec: SpecT, data: HandleData) -> str:
        """Check the fault took effect; return the evidence, raise FaultError if it did not."""

    @abstractmethod
    def remove(self, spec: SpecT, data: HandleData) -> None:
        """Undo the fault (idempotent)."""

    def prepare(self, spec: SpecT) -> None:
        """Work the fault needs that is not the fault itself (accounts, tokens, clients), done before
        the steady window so that it neither lands in the fault window nor loads the machine there."""

    def shortfall(self, spec: SpecT, data: HandleData) -> str:
        """Asked just before removal: why the fault fell short of its spec ("" when it was delivered in
        full). A fault the harness itself could not deliver (a flood that could not keep its rate on a
        saturated machine) leaves the verdicts that rest on it inconclusive, not failed."""
        return ""

    def close(self) -> None:
        """Release clients the injector holds."""
