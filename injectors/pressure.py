"""CPU and memory pressure on the compose runtime: a container's cgroup limits are lowered through the
Docker API (`container.update`) and put back on removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaosgate.errors import FaultError
from chaosgate.injection import HandleData
from chaosgate.scenario.models import PressureFault

from .containers import ContainerInjector, wire_for

CPU_PERIOD_US = 100_000
UNLIMITED = -1  # what the engine takes for "no limit" when a limit is lifted


def cgroup_limits(pid: int) -> dict[str, str]:
    """The kernel's own view of the process's limits (cgroup v1 or v2), where this host can read it."""
    out: dict[str, str] = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            files = {"memory": base / "memory.max", "cpu": base / "cpu.max"}
        else:
            files = {}
            for controller in controllers.split(","):
                folder = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
                if controller == "memory":
                    files["memory"] = folder / "memory.limit_in_bytes"
                elif controller == "cpu":
                    files["cpu"] = folder / "cpu.cfs_quota_us"
        for name, file in files.items():
            try:
                out[name] = file.read_text().strip()
            except OSError:
                continue
    return out


class PressureInjector(ContainerInjector[PressureFault]):
    """`cpus` becomes a CFS quota (that share of one core per period); `memory` a hard limit with no swap
    beyond it, so the kernel reclaims and, past it, kills (a container killed so is started again on
    removal). The limits it had are kept in the fault ledger and restored."""

    name = "pressure"
    fault = PressureFault

    def apply(self, spec: PressureFault, *, fault_id: str) -> HandleData:
        container = self.engine.container(spec.container)
        container.reload()
        host = container.attrs["HostConfig"]
        before = {key: int(host.get(key) or 0) for key in ("CpuQuota", "CpuPeriod", "Memory", "MemorySwap")}
        change: dict[str, Any] = {}
        if spec.cpus is not None:
            change.update(cpu_period=CPU_PERIOD_US, cpu_quota=max(1000, int(spec.cpus * CPU_PERIOD_US)))
        if spec.memory is not None:
            change.update(mem_limit=int(spec.memory), memswap_limit=int(spec.memory))
        try:
            container.update(**change)
        except Exception as exc:
            raise FaultError(f"the engine refused new limits for {container.name}: {exc}") from None
        return {"container": container.id, "before": before}

    def verify(self, spec: PressureFault, data: HandleData) -> str:
        container = self.engine.container(spec.container)
        container.reload()
        host = container.attrs["HostConfig"]
        parts: list[str] = []
        if spec.cpus is not None:
            quota, period = int(host.get("CpuQuota") or 0), int(host.get("CpuPeriod") or 0)
            if quota <= 0 or period <= 0 or abs(quota / period - spec.cpus) > 0.011:
                raise FaultError(f"{container.name}: CPU quota {quota}/{period}, not {spec.cpus:g} CPUs")
            parts.append(f"{quota / period:g} CPUs")
        if spec.memory is not None:
            if int(host.get("Memory") or 0) != int(spec.memory):
                raise FaultError(
                    f"{container.name}: memory limit {host.get('Memory')}, not {int(spec.memory)}"
                )
            parts.append(f"memory {int(spec.memory) // 2**20} MiB")
        evidence = f"{container.name} limited to {' and '.join(parts)}"
        pid = int(container.attrs["State"].get("Pid") or 0)
        kernel = cgroup_limits(pid) if pid > 0 else {}
        if kernel:
            evidence += " (cgroup: " + ", ".join(f"{k} {v}" for k, v in sorted(kernel.items())) + ")"
        wire = wire_for(self.env, spec.container)
        if wire is not None:
            evidence += f"; {wire.describe()}: {wire.ask(timeout=3.0)[1]}"
        return evidence

    def remove(self, spec: PressureFault, data: HandleData) -> None:
        container = self.engine.container(spec.container)
        before: dict[str, int] = data.get("before") or {}
        change: dict[str, Any] = {}
        if spec.cpus is not None:
            change.update(cpu_period=before.get("CpuPeriod") or CPU_PERIOD_US,
                          cpu_quota=before.get("CpuQuota") or UNLIMITED)  # fmt: skip
        if spec.memory is not None:
            memory = before.get("Memory") or 0
            swap = before.get("MemorySwap") or 0
            # The engine cannot lift a memory limit once set: "none" comes back as the engine's whole
            # memory, which is no limit at all. Swap is given explicitly (runc raises it first, then the
            # limit; with -1 it leaves the old, lower swap limit in place and the kernel refuses).
            memory = memory or int(self.engine.client.info()["MemTotal"])
            change.update(mem_limit=memory, memswap_limit=swap if swap > memory else 2 * memory)
        try:
            container.update(**change)
        except Exception as exc:
            raise FaultError(f"could not restore the limits of {container.name}: {exc}") from None
        container.reload()
        if container.status in ("exited", "dead"):  # killed for memory while squeezed
            container.start()
