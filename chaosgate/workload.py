"""The workload: ledger writers that keep writing items with unique ids through the whole scenario."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx

from chaosgate.errors import ChaosgateError
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.plugin import LedgerWriter
from chaosgate.scoring import WriterCounts


class WriterLoop:
    """Writes at `rate` per second until stopped; remembers what it attempted and what was acknowledged."""

    def __init__(
        self, name: str, writer: LedgerWriter, ctx: ProbeContext, *, rate: float, limit: int
    ) -> None:
        self.name = name
        self.writer = writer
        self.ctx = ctx
        self.rate = rate
        self.limit = limit  # bounded in count, whatever the duration
        self.attempted: set[str] = set()
        self.acknowledged: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.read_error = ""  # why the last read-back failed, if it did
        self.prefix = f"cg-{uuid.uuid4().hex[:8]}-"  # this loop's namespace: read-back is judged within it

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer {self.name}")

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
            try:
                async with asyncio.timeout(self.ctx.timeout_s):
                    if await self.writer.write(self.ctx, write_id):
                        self.acknowledged.add(write_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # an unacknowledged write is data for the checker, not an error
                pass
            await asyncio.sleep(1 / self.rate)

    async def check(self, *, timeout_s: float) -> WriterCounts:
        """Read everything back and count lost / recovered / unexpected. A system that still cannot
        answer after `timeout_s` of retries has, as far as anyone can tell, lost every acknowledged write."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    read_back = {
                        w for w in await self.writer.read_back(self.ctx) if w.startswith(self.prefix)
                    }
                break
            except (ChaosgateError, httpx.HTTPError, TimeoutError) as exc:
                self.read_error = f"{type(exc).__name__}: {exc}"[:300]
                if time.monotonic() + 1.0 > deadline:
                    return WriterCounts.check(
                        attempted=self.attempted,
                        acknowledged=self.acknowledged,
                        read_back=set(),
                        ephemeral=self.writer.ephemeral,
                    )
                await asyncio.sleep(1.0)
        self.read_error = ""
        return WriterCounts.check(
            attempted=self.attempted,
            acknowledged=self.acknowledged,
            read_back=read_back,
            ephemeral=self.writer.ephemeral,
        )
