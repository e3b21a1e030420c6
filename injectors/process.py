"""Process faults on the local runtime: SIGKILL, SIGSTOP or SIGTERM a service; rollback restores it."""

from __future__ import annotations

import os
import signal
import time

import psutil

from chaosgate.errors import FaultError
from chaosgate.scenario.models import ProcessFault
from chaosgate.stack.launcher import LocalStack
from injectors.base import FaultEnvironment, HandleData, Injector


class ProcessInjector(Injector[ProcessFault]):
    """Signals a service's process group. A killed service is restarted on removal, as its supervisor
    would; a stopped one gets SIGCONT."""

    name = "process"

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        if env.stack is None:
            raise FaultError(
                "the process injector signals processes this machine started, so it needs the local "
                "runtime; against a compose or remote stack use `docker` faults"
            )
        self.stack: LocalStack = env.stack

    def apply(self, spec: ProcessFault, *, fault_id: str) -> HandleData:
        pid = self.stack.pid_of(spec.service)
        if pid is None:
            raise FaultError(f"service {spec.service!r} is not running; nothing to {spec.signal}")
        if spec.signal == "SIGKILL":
            self.stack.kill_service(spec.service)
        else:
            os.killpg(os.getpgid(pid), getattr(signal, spec.signal))
        return {"pid": pid}

    def verify(self, spec: ProcessFault, data: HandleData) -> str:
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
