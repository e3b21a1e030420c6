"""The run's control: a trivial HTTP server outside the target, probed like a feature.

A latency verdict means something only if the machine could still serve a trivial request at its
usual speed. The control is a separate process on loopback that answers every GET after a fixed
amount of CPU work (about a millisecond of hashing), so it slows when the cores are contended,
exactly as the features do when a noisy neighbour (or the harness itself) takes the CPU, but
never because of the target's own faults. The runner probes it beside the features; a fault window
where it slowed past `saturated` is reported inconclusive (machine saturated) instead of scored.

Hand-rolled (asyncio streams, ~30 lines) rather than a web framework: the control must be the
cheapest server there is, so that its latency is the machine's, not a framework's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from chaosgate.probes.base import ProbeContext
from chaosgate.samples import FeatureStats, ProbeOutcome, SampleRecord

CONTROL = "control:machine"  # the control's target name among the samples
WORK_ROUNDS = 40  # sha256 over 16 KiB, 40 times: about 1 ms of one core on this class of machine
_BLOCK = b"\x5a" * 16384
_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


def _work() -> None:
    digest = hashlib.sha256()
    for _ in range(WORK_ROUNDS):
        digest.update(_BLOCK)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Cancelled when the parent goes and the server shuts down: nothing to report then.
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            _work()
            writer.write(_ANSWER)
            await writer.drain()
    writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        # The parent holds our stdin: when it goes (exit, crash, SIGKILL), so do we.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    asyncio.run(_serve())


class ControlServer:
    """Starts the control process on a free loopback port; its URL is `url` while inside the context."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> ControlServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "chaosgate.probes.control"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError("the control server did not start")
        self.url = f"http://127.0.0.1:{int(line)}/"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class ControlProbe:
    """One GET to the control server: served, or an error if even the control cannot answer."""

    url: str

    async def __call__(self, ctx: ProbeContext) -> ProbeOutcome:
        response = await ctx.http.get(self.url)
        return ProbeOutcome.SERVED if response.status_code == 200 else ProbeOutcome.ERROR


# The control is saturated in a window when its p95 is over both bounds: a ratio to its steady p95
# (contention multiplies latency) and an absolute margin (a 2 ms answer going to 4 ms is no sign).
# Measured on this 2-core machine (60 GETs each): quiet, p95 3.3 ms; beside two busy loops, one per
# core, p95 7.6 ms and max 39 ms. The scheduler favours a process that sleeps as much as the control
# does, so contention shows in it less than in the features (which queue): the bounds are tight. A
# saturated window voids only verdicts that rest on latency alone; failed requests always count.
SATURATION_RATIO = 2.0
SATURATION_MARGIN_S = 0.005


@dataclass(frozen=True)
class ControlVerdict:
    steady: FeatureStats
    fault: FeatureStats
    saturated: bool
    ratio: float | None
    reason: str


def judge(
    steady: Sequence[SampleRecord], fault: Sequence[SampleRecord], window: str = "fault"
) -> ControlVerdict:
    """Whether the machine was saturated in a window (the fault's, or the recovery's), from the
    control's samples."""
    before, during = FeatureStats.of(steady), FeatureStats.of(fault)
    if before.count == 0 or during.count == 0:
        return ControlVerdict(before, during, False, None, "the control has no samples in a window")
    ratio = during.p95_s / before.p95_s if before.p95_s > 0 else None
    failed = during.success < 1.0
    slow = during.p95_s > max(SATURATION_RATIO * before.p95_s, before.p95_s + SATURATION_MARGIN_S)
    saturated = failed or slow
    reason = (
        f"control p95 {during.p95_s * 1000:.1f} ms in the {window} window against "
        f"{before.p95_s * 1000:.1f} ms steady{'; some control requests failed' if failed else ''}"
    )
    return ControlVerdict(before, during, saturated, ratio, reason if saturated else "")


if __name__ == "__main__":
    main()
