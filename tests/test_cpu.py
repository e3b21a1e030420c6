"""CPU shares per window: what a neighbour (a process outside the harness's tree) takes of the machine
is told apart from what the harness and the stack it started take."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from chaosgate.cpu import CpuMeter

BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end: pass"


@contextmanager
def busy_loop(seconds: float, *, detached: bool) -> Iterator[None]:
    """A busy loop for `seconds`: a child of this process, or (detached) one a shell started and left,
    so that it is nobody's child here: a neighbour, as another job on a shared machine is."""
    code = BUSY.format(s=seconds)
    if detached:
        shell = f"{sys.executable} -c '{code}' >/dev/null 2>&1 & echo $!"
        pid = int(subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True).stdout)
        try:
            yield
        finally:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield
    finally:
        child.kill()
        child.wait()


def measure(seconds: float, *, detached: bool) -> tuple[float | None, float | None]:
    meter = CpuMeter()
    with busy_loop(seconds + 1, detached=detached):
        meter.mark("a", 0.0)
        time.sleep(seconds)
        meter.mark("b", seconds)
    busy, _ = meter.shares("a", "b")
    return busy, meter.neighbour("a", "b")


def test_a_busy_loop_nobody_here_started_is_a_neighbour() -> None:
    busy, neighbour = measure(1.5, detached=True)
    cores = os.cpu_count() or 1
    assert neighbour is not None and neighbour >= 0.6 / cores, (busy, neighbour)


def test_a_busy_loop_the_harness_started_is_its_own_work() -> None:
    busy, neighbour = measure(1.5, detached=False)
    cores = os.cpu_count() or 1
    assert busy is not None and busy >= 0.6 / cores  # the loop ran...
    assert neighbour is not None and neighbour < 0.3 / cores, (busy, neighbour)  # ...and was ours


def test_a_missing_mark_gives_no_share() -> None:
    assert CpuMeter().neighbour("a", "b") is None
