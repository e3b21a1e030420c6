"""CPU shares per window: the whole machine's, and the harness's own (its process and its load)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuMark:
    t: float  # the scenario clock
    machine_busy_s: float  # CPU seconds every core spent busy, since boot
    machine_total_s: float
    harness_s: float  # CPU seconds of this process and of its load generator (Locust)


class CpuMeter:
    """Marks at phase boundaries; `shares(a, b)` gives the machine's busy share and the harness's
    share of the machine between two marks (0..1 each)."""

    def __init__(self) -> None:
        self._me = psutil.Process(os.getpid())
        self.marks: dict[str, CpuMark] = {}

    def mark(self, name: str, t: float) -> None:
        times = psutil.cpu_times()
        total = sum(times)
        idle = times.idle + getattr(times, "iowait", 0.0)
        self.marks[name] = CpuMark(t, total - idle, total, self._harness_seconds())

    def _harness_seconds(self) -> float:
        """This process (probes, injectors, writers) and the Locust processes it runs; not the stack,
        which the local runtime also starts as children of this process."""
        seconds = 0.0
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                if process is not self._me and not any("locust" in part for part in process.cmdline()):
                    continue
                cpu = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            seconds += cpu.user + cpu.system
        return seconds

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
