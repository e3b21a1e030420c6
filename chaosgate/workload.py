"""The workload: ledger writers that keep writing items with unique ids through the whole scenario."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from chaosgate.errors import ChaosgateError, ReadBackBlind
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.plugin import LedgerWriter
from chaosgate.result import ID_LIMIT, WriterPhaseRecord
from chaosgate.scoring import WriterCounts

# A blind read-back is asked again this many times in all (1 s apart): a listing served from an empty
# fallback just after recovery fills in; a typo in its path never does, and should not cost the timeout.
BLIND_TRIES = 3


@dataclass(frozen=True)
class WriterCheck:
    """What one writer's read-back showed: the counts over every write, the counts per phase (by when
    each write was attempted), the lost and recovered ids (in the order attempted, at most ID_LIMIT),
    and `cannot_tell`: why the read-back could not see, when it could not (then nothing is lost)."""

    counts: WriterCounts
    phases: dict[str, WriterPhaseRecord] = field(default_factory=dict)
    lost_ids: list[str] = field(default_factory=list)
    recovered_ids: list[str] = field(default_factory=list)
    cannot_tell: str = ""


class WriterLoop:
    """Writes at `rate` per second until stopped; remembers what it attempted (and when, on `clock`)
    and what was acknowledged."""

    def __init__(
        self,
        name: str,
        writer: LedgerWriter,
        ctx: ProbeContext,
        *,
        rate: float,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.writer = writer
        self.ctx = ctx
        self.rate = rate
        self.limit = limit  # bounded in count, whatever the duration
        self.clock = clock  # the runner's scenario clock: the phases' windows are in its time
        self.attempted: set[str] = set()
        self.acknowledged: set[str] = set()
        self.attempted_at: dict[str, float] = {}  # write id -> clock time of its attempt
        self._task: asyncio.Task[None] | None = None
        self.read_error = ""  # why the last read-back failed, if it did
        self.prefix = f"cg-{uuid.uuid4().hex[:8]}-"  # this loop's namespace: read-back is judged within it

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer {self.name}")

    async def finish(self) -> None:
        """Until the loop has made all `limit` writes (the runner stops it sooner, tests let it end)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        for n in range(self.limit):
            write_id = f"{self.prefix}{n}"
            # Attempted before the call: a write the system took but never acknowledged is "recovered".
            self.attempted.add(write_id)
            self.attempted_at[write_id] = self.clock()
            try:
                async with asyncio.timeout(self.ctx.timeout_s):
                    if await self.writer.write(self.ctx, write_id):
                        self.acknowledged.add(write_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # an unacknowledged write is data for the checker, not an error
                pass
            await asyncio.sleep(1 / self.rate)

    async def check(
        self, *, timeout_s: float, windows: Mapping[str, tuple[float, float]] | None = None
    ) -> WriterCheck:
        """Read everything back and count lost / recovered / unexpected, over all writes and per phase
        (`windows`: phase -> [start, end) on the clock; a write outside every window goes to the
        nearest). A system that still cannot answer after `timeout_s` of retries has, as far as anyone
        can tell, lost every acknowledged write; one that answers but cannot see (ReadBackBlind) has
        lost nothing anyone can show: `cannot_tell` says why."""
        read_back, cannot_tell = await self._read_back(timeout_s)
        if cannot_tell:
            counts = WriterCounts(
                attempted=len(self.attempted),
                acknowledged=len(self.acknowledged),
                lost=0,
                recovered=0,
                unexpected=0,
                ephemeral=self.writer.ephemeral,
            )
            lost: set[str] = set()
            recovered: set[str] = set()
        else:
            counts = WriterCounts.check(
                attempted=self.attempted,
                acknowledged=self.acknowledged,
                read_back=read_back,
                ephemeral=self.writer.ephemeral,
            )
            lost = self.acknowledged - read_back
            recovered = read_back & (self.attempted - self.acknowledged)
        return WriterCheck(
            counts=counts,
            phases=self._phases(windows or {}, lost, recovered),
            lost_ids=self._first(lost),
            recovered_ids=self._first(recovered),
            cannot_tell=cannot_tell,
        )

    async def _read_back(self, timeout_s: float) -> tuple[set[str], str]:
        """This loop's ids the system holds, and why it could not see them ("" when it could)."""
        deadline = time.monotonic() + timeout_s
        blind = 0
        while True:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    held = await self.writer.read_back(self.ctx)
                self.read_error = ""
                return {w for w in held if w.startswith(self.prefix)}, ""
            except ReadBackBlind as exc:
                self.read_error = ""
                blind += 1
                if blind >= BLIND_TRIES or time.monotonic() + 1.0 > deadline:
                    return set(), str(exc)[:500]
            except (ChaosgateError, httpx.HTTPError, TimeoutError) as exc:
                self.read_error = f"{type(exc).__name__}: {exc}"[:300]
                if time.monotonic() + 1.0 > deadline:
                    return set(), ""
            await asyncio.sleep(1.0)

    def _phases(
        self, windows: Mapping[str, tuple[float, float]], lost: set[str], recovered: set[str]
    ) -> dict[str, WriterPhaseRecord]:
        if not windows:
            return {}
        attempted: dict[str, list[str]] = {phase: [] for phase in windows}
        for write_id, at in self.attempted_at.items():
            attempted[phase_of(at, windows)].append(write_id)
        return {
            phase: WriterPhaseRecord(
                attempted=len(ids),
                acknowledged=sum(w in self.acknowledged for w in ids),
                lost=sum(w in lost for w in ids),
                recovered=sum(w in recovered for w in ids),
            )
            for phase, ids in attempted.items()
        }

    def _first(self, ids: Iterable[str]) -> list[str]:
        """In the order they were attempted, at most ID_LIMIT (result.json stays small)."""
        return sorted(ids, key=lambda w: (self.attempted_at.get(w, 0.0), w))[:ID_LIMIT]


def phase_of(at: float, windows: Mapping[str, tuple[float, float]]) -> str:
    """The phase whose [start, end) holds `at`, else the nearest one by time (the first on a tie)."""
    for phase, (start, end) in windows.items():
        if start <= at < end:
            return phase
    return min(windows, key=lambda phase: max(windows[phase][0] - at, at - windows[phase][1], 0.0))
