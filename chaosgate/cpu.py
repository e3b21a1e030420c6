"""CPU shares per window: the whole machine's, the harness's own (its process and its load), and a
neighbour's (whatever runs on the machine outside this process, what it started and the stack)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import psutil

# A process may exit or hide while it is read: it is then simply not counted.
_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


@dataclass(frozen=True)
class CpuMark:
    t: float  # the scenario clock
    machine_busy_s: float  # CPU seconds every core spent busy, since boot
    machine_total_s: float
    harness_s: float  # CPU seconds of this process and of its load generator (Locust)
    # CPU seconds of this process, every process it started and the stack's processes (None: the
    # stack's processes are not known here, so a neighbour cannot be told apart)
    tree_s: float | None


class CpuMeter:
    """Marks at phase boundaries; `shares(a, b)` gives the machine's busy share and the harness's
    share of the machine between two marks (0..1 each), `neighbour(a, b)` what others took.
    `stack_processes` gives the pids of a stack this process did not start itself (a local stack
    another run left up); returning None means they are unknown (containers, another host)."""

    def __init__(self, stack_processes: Callable[[], list[int] | None] | None = None) -> None:
        self._me = psutil.Process(os.getpid())
        self._stack = stack_processes
        self.marks: dict[str, CpuMark] = {}

    def mark(self, name: str, t: float) -> None:
        times = psutil.cpu_times()
        total = sum(times)
        idle = times.idle + getattr(times, "iowait", 0.0)
        harness, tree = self._own_seconds()
        self.marks[name] = CpuMark(t, total - idle, total, harness, tree)

    def _own_seconds(self) -> tuple[float, float | None]:
        """(harness, tree): this process (probes, injectors, writers) and the Locust processes it
        runs; and everything it started plus the stack's processes and theirs."""
        stack = self._stack() if self._stack is not None else []
        seen: dict[int, psutil.Process] = {self._me.pid: self._me}
        for root in [self._me, *(_process(pid) for pid in stack or [])]:
            if root is None:
                continue
            seen.setdefault(root.pid, root)
            with contextlib.suppress(*_GONE):
                for child in root.children(recursive=True):
                    seen.setdefault(child.pid, child)
        harness = tree = 0.0
        for process in seen.values():
            with contextlib.suppress(*_GONE):
                mine = process is self._me or any("locust" in part for part in process.cmdline())
                cpu = process.cpu_times()
                seconds = cpu.user + cpu.system
                # Children it already reaped (short-lived tools) are its own work too.
                tree += seconds + getattr(cpu, "children_user", 0.0) + getattr(cpu, "children_system", 0.0)
                harness += seconds if mine else 0.0
        return harness, (None if stack is None else tree)

    def shares(self, start: str, end: str) -> tuple[float | None, float | None]:
        """(machine busy share, harness share) between two marks; None where a mark is missing.
        A child that exited between the marks takes its CPU with it: the harness share is a floor."""
        a, b = self.marks.get(start), self.marks.get(end)
        if a is None or b is None or b.machine_total_s <= a.machine_total_s:
            return None, None
        span = b.machine_total_s - a.machine_total_s
        busy = (b.machine_busy_s - a.machine_busy_s) / span
        harness = max(0.0, b.harness_s - a.harness_s) / span
        return round(min(1.0, busy), 3), round(min(1.0, harness), 3)

    def neighbour(self, start: str, end: str) -> float | None:
        """The share of the machine that processes outside this one's tree took between two marks
        (another job on a shared CI machine, a busy loop); None where a mark is missing. A child that
        exited between the marks is counted as a neighbour: the share is a ceiling."""
        a, b = self.marks.get(start), self.marks.get(end)
        if a is None or b is None or b.machine_total_s <= a.machine_total_s:
            return None
        if a.tree_s is None or b.tree_s is None:
            return None
        span = b.machine_total_s - a.machine_total_s
        others = (b.machine_busy_s - a.machine_busy_s) - max(0.0, b.tree_s - a.tree_s)
        return round(min(1.0, max(0.0, others / span)), 3)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except _GONE:
        return None
