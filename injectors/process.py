"""Process faults: SIGKILL, SIGSTOP or SIGTERM a service; rollback restores it. On the local runtime the
signal goes to the service's process group; on the compose runtime to its container (kill, pause, stop)."""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar

import psutil

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment, HandleData, Injector, Runtime, ServiceProcesses
from chaosgate.scenario.models import DockerFault, ProcessFault

# The container action that does to a container's main process what the signal does to a process.
CONTAINER_ACTION = {"SIGKILL": "kill", "SIGSTOP": "pause", "SIGTERM": "stop"}


def as_container_fault(spec: ProcessFault) -> DockerFault:
    """The same fault on the service's container (compose runtime)."""
    return DockerFault(
        injector="docker",
        container=spec.service,
        action=CONTAINER_ACTION[spec.signal],
        start=spec.start,
        duration=spec.duration,
    )


class ProcessInjector(Injector[ProcessFault]):
    """Signals a service's process group. A killed service is restarted on removal, as its supervisor
    would; a stopped one gets SIGCONT."""

    name = "process"
    fault = ProcessFault
    runtimes: ClassVar[frozenset[Runtime]] = frozenset({"local", "compose"})

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        self.containers: Injector[DockerFault] | None = None
        if env.stack is None and env.runtime == "compose":
            from .docker import DockerInjector

            self.containers = DockerInjector(env)
            return
        if env.stack is None:
            raise FaultError(
                "the process injector signals processes this machine started (or, on a compose stack, "
                "its containers); against a remote stack use `docker` faults"
            )
        self.stack: ServiceProcesses = env.stack

    def close(self) -> None:
        if self.containers is not None:
            self.containers.close()

    def apply(self, spec: ProcessFault, *, fault_id: str) -> HandleData:
        if self.containers is not None:
            return self.containers.apply(as_container_fault(spec), fault_id=fault_id)
        pid = self.stack.pid_of(spec.service)
        if pid is None:
            raise FaultError(f"service {spec.service!r} is not running; nothing to {spec.signal}")
        if spec.signal == "SIGKILL":
            self.stack.kill_service(spec.service)
        else:
            os.killpg(os.getpgid(pid), getattr(signal, spec.signal))
        return {"pid": pid}

    def verify(self, spec: ProcessFault, data: HandleData) -> str:
        if self.containers is not None:
            return f"{spec.signal} as docker {CONTAINER_ACTION[spec.signal]}: " + self.containers.verify(
                as_container_fault(spec), data
            )
        pid = int(data["pid"])
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            state = _state(pid)
            if spec.signal == "SIGSTOP" and state == psutil.STATUS_STOPPED:
                return f"{spec.service} (pid {pid}) stopped"
            if spec.signal != "SIGSTOP" and state in (None, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return f"{spec.service} (pid {pid}) is gone"
            time.sleep(0.02)
        raise FaultError(f"{spec.signal} to {spec.service} (pid {pid}) had no effect: it is {_state(pid)}")

    def remove(self, spec: ProcessFault, data: HandleData) -> None:
        if self.containers is not None:
            self.containers.remove(as_container_fault(spec), data)
            return
        pid = int(data.get("pid", 0))
        if spec.signal == "SIGSTOP" and pid and _state(pid) == psutil.STATUS_STOPPED:
            os.killpg(os.getpgid(pid), signal.SIGCONT)
            return
        if self.stack.pid_of(spec.service) is None:
            self.stack.start_service(spec.service)


def _state(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return None
