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

import pytest

from chaosgate.cpu import CpuMeter

# Measures this machine's CPU shares itself: scripts/test runs it alone, after the parallel suite.
pytestmark = pytest.mark.alone

BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end: pass"


@contextmanager
def busy_loop(seconds: float, *, detached: bool, pids: list[int] | None = None) -> Iterator[None]:
    """A busy loop for `seconds`: a child of this process, or (detached) one a shell started and left,
    so that it is nobody's child here: a neighbour, as another job on a shared machine is."""
    code = BUSY.format(s=seconds)
    if detached:
        shell = f"{sys.executable} -c '{code}' >/dev/null 2>&1 & echo $!"
        pid = int(subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True).stdout)
        if pids is not None:
            pids.append(pid)
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


def measure(seconds: float, *, detached: bool, stack: list[int] | None = None) -> tuple[float, float | None]:
    """(CPU seconds counted as ours over `seconds` while the loop ran, the neighbour share)."""
    meter = CpuMeter((lambda: stack) if stack is not None else None)
    with busy_loop(seconds + 1, detached=detached, pids=stack):
        meter.mark("a", 0.0)
        time.sleep(seconds)
        meter.mark("b", seconds)
    a, b = meter.marks["a"], meter.marks["b"]
    assert a.tree_s is not None and b.tree_s is not None
    return b.tree_s - a.tree_s, meter.neighbour("a", "b")


# Judged on what is counted as ours, not on machine shares: the suite runs beside other work (the
# compose tests), which is a neighbour here too.
def test_a_busy_loop_nobody_here_started_is_a_neighbour() -> None:
    ours, neighbour = measure(1.5, detached=True)
    cores = os.cpu_count() or 1
    assert ours < 0.3, ours  # the loop's CPU seconds are not ours...
    assert neighbour is not None and neighbour >= 0.6 / cores, neighbour  # ...but a neighbour's


def test_a_busy_loop_the_harness_started_is_its_own_work() -> None:
    ours, _ = measure(1.5, detached=False)
    assert ours >= 0.5, ours  # a third of the loop at least, on a machine shared with other work


def test_a_stack_another_run_started_and_left_up_is_not_a_neighbour() -> None:
    """`chaosgate run` reuses a local stack a previous run left up: its servers are nobody's children
    here, but they are the stack (LocalStack.process_ids), not a neighbour."""
    ours, _ = measure(1.5, detached=True, stack=[])
    assert ours >= 0.5, ours  # a third of the loop at least, on a machine shared with other work


def test_no_neighbour_share_where_the_stacks_processes_are_unknown() -> None:
    meter = CpuMeter(lambda: None)  # containers, or a stack on another host
    meter.mark("a", 0.0)
    meter.mark("b", 0.1)
    assert meter.neighbour("a", "b") is None
    assert CpuMeter().neighbour("a", "b") is None  # a missing mark gives no share either
