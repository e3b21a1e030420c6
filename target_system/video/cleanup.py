"""The stale-call cleanup job: ends calls stuck ringing or active too long, periodically and on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from target_system.video.calls import Calls
from target_system.video.metrics import VideoMetrics
from target_system.video.models import Call

_log = logging.getLogger(__name__)


class StaleCallCleanup:
    """One `run_once` ends what is stale; `start` runs it every `interval` seconds (CLEANUP_JOBS)."""

    def __init__(
        self,
        calls: Calls,
        metrics: VideoMetrics,
        *,
        ringing_for: float,
        active_for: float,
        interval: float,
        on_ended: Callable[[Call], Awaitable[None]] | None = None,
    ) -> None:
        self._calls = calls
        self._metrics = metrics
        self.ringing_for = ringing_for
        self.active_for = active_for
        self.interval = interval
        self._on_ended = on_ended
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> list[Call]:
        """End stale calls; the error of a failed run is counted and raised."""
        started = time.perf_counter()
        try:
            ended = await self._calls.end_stale(ringing_for=self.ringing_for, active_for=self.active_for)
        except Exception:
            self._metrics.cleanup_failed.inc()
            raise
        finally:
            self._metrics.cleanup_duration.observe(time.perf_counter() - started)
        self._metrics.cleanup_stale_calls.inc(len(ended))
        if self._on_ended is not None:
            for call in ended:
                await self._on_ended(call)
        return ended

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="video-stale-call-cleanup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                ended = await self.run_once()
            except Exception as exc:  # counted in run_once; the next period tries again
                _log.warning("stale-call cleanup failed: %r", exc)
                continue
            if ended:
                _log.info("stale-call cleanup ended %d call(s)", len(ended))
