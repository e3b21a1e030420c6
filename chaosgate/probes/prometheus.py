"""The Prometheus query probe: PromQL queries sampled beside the feature probes when a URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from types import TracebackType

from prometheus_api_client import PrometheusConnect

from chaosgate.observe import Clock
from chaosgate.result import MetricRecord


class PrometheusSampler:
    """Every `interval_s`, evaluates each query and records its value (summed over the result series)."""

    def __init__(self, url: str, queries: Mapping[str, str], clock: Clock, *, interval_s: float) -> None:
        self.client = PrometheusConnect(url=url, disable_ssl=True)
        self.queries = dict(queries)
        self.clock = clock
        self.interval_s = interval_s
        self.records: list[MetricRecord] = []
        self._task: asyncio.Task[None] | None = None

    def sample(self, name: str) -> float:
        """One instant query; NaN when Prometheus errs or the query matches nothing."""
        try:
            result = self.client.custom_query(query=self.queries[name])
        except Exception:  # an unreachable Prometheus must not stop a run; NaN shows the gap
            return math.nan
        values = [float(series["value"][1]) for series in result if "value" in series]
        return sum(values) if values else math.nan

    async def __aenter__(self) -> PrometheusSampler:
        self._task = asyncio.create_task(self._loop(), name="prometheus sampler")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            for name in self.queries:
                t = self.clock()
                value = await asyncio.to_thread(self.sample, name)
                self.records.append(MetricRecord(name=name, t=round(t, 3), value=value))
            await asyncio.sleep(self.interval_s)
