"""The one interface every fault injector implements, and the environment injectors are built from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from chaosgate.scenario.models import FaultBase
from chaosgate.stack.launcher import LocalStack
from chaosgate.topology import Topology

SpecT = TypeVar("SpecT", bound=FaultBase)

HandleData = dict[str, Any]
"""What `apply` learned that `remove` needs (a toxic's name, a pid...): JSON, kept in the fault ledger."""


@dataclass(frozen=True)
class FaultEnvironment:
    """What injectors may touch; built once per run by the root object and handed to every injector."""

    topology: Topology
    proxy_api_url: str
    gateway_url: str
    stack: LocalStack | None = None  # only on the local runtime
    docker_host: str | None = None  # chaos.yaml's remote.docker_host; else DOCKER_HOST or the socket
    call_timeout_s: float = 5.0

    @property
    def host(self) -> str:
        """Where the stack's ports answer (chaos.yaml's remote.host, else loopback)."""
        return self.topology.host


class Injector(ABC, Generic[SpecT]):
    """apply → verify → remove, for one family of faults. `remove` must be idempotent: rollback,
    the deadline watchdog and the next run's sweep may all call it for the same fault."""

    name: ClassVar[str]

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

    def close(self) -> None:
        """Release clients the injector holds."""


InjectorFactory = Callable[[FaultEnvironment], Injector[Any]]


def default_injectors() -> Mapping[str, InjectorFactory]:
    """The injectors chaosgate ships, by the `injector:` name scenarios use."""
    from injectors.docker import DockerInjector
    from injectors.pool import PoolInjector
    from injectors.process import ProcessInjector
    from injectors.provider import ProviderInjector
    from injectors.toxiproxy import ToxiproxyInjector
    from injectors.wsflood import WsFloodInjector

    return {
        cls.name: cls
        for cls in (
            ToxiproxyInjector,
            ProcessInjector,
            PoolInjector,
            WsFloodInjector,
            DockerInjector,
            ProviderInjector,
        )
    }
