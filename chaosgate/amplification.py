"""Amplification: traffic per second through the faulted link and its callers' links, fault against steady.

Shown beside cascade, not scored (rules v3). The counters come from the fault proxy's `GET /metrics`:
chaosgate's proxy counts connections accepted (`chaosgate_proxy_connections_total`) and bytes per
direction; a real Toxiproxy 2.x started with `-proxy-metrics` counts bytes only, and adds a
connection's bytes when that connection ends, so there bytes/s counts the connections that closed
in a window. Pooled clients (SQL, Redis, HTTP keep-alive) open few connections while all is well,
so a steady connection rate is often 0 (ratio n/a) while bytes/s follows the requests: each link
gets a row per unit its proxy counts.

`LinkSampler` snapshots the counters on the scenario clock; `amplification` turns the snapshots
into rates per window. A scrape that fails is recorded, never raised: amplification is shown, and
must not end a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import TracebackType

import httpx

from chaosgate.result import LinkRate

CONNECTIONS = "chaosgate_proxy_connections_total"
BYTES_RECEIVED = "toxiproxy_proxy_received_bytes_total"
CONNECTIONS_UNIT = "connections/s"
BYTES_UNIT = "bytes/s"

# A sample line of the Prometheus text format: name, optional {labels}, value, optional timestamp.
_SAMPLE = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?")
_LABEL = re.compile(r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class LinkCount:
    """One proxy's counters at one moment, since the proxy was created."""

    connections: float | None  # accepted from clients; None where the proxy does not count them
    bytes: float | None  # received from the clients (requests offered to the link); None if not counted


@dataclass(frozen=True)
class Snapshot:
    t: float  # the scenario clock, midway through the scrape
    links: Mapping[str, LinkCount]


def _labels(text: str) -> dict[str, str]:
    labels = {}
    for match in _LABEL.finditer(text):
        value = re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], match["value"])
        labels[match["key"]] = value
    return labels


def parse_counters(text: str) -> dict[str, LinkCount]:
    """Per proxy: connections accepted (where counted) and the bytes its clients sent (the upstream
    direction's received bytes). Lines of other metrics, comments and malformed lines are skipped."""
    connections: dict[str, float] = {}
    offered: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.fullmatch(line.strip())
        if match is None or match["name"] not in (CONNECTIONS, BYTES_RECEIVED):
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = _labels(match["labels"] or "")
        proxy = labels.get("proxy")
        if proxy is None:
            continue
        if match["name"] == CONNECTIONS:
            connections[proxy] = value
        elif labels.get("direction") == "upstream":
            offered[proxy] = offered.get(proxy, 0.0) + value
    return {
        name: LinkCount(connections.get(name), offered.get(name))
        for name in sorted(connections.keys() | offered.keys())
    }


class LinkCounters:
    """Reads a proxy API's `/metrics`; a failure is appended to `failures` and gives None."""

    def __init__(self, api_url: str, *, timeout_s: float = 1.0) -> None:
        self.url = f"{api_url.rstrip('/')}/metrics"
        self.failures: list[str] = []
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def read(self) -> dict[str, LinkCount] | None:
        try:
            response = await self._client.get(self.url)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.failures.append(f"GET {self.url}: {detail}")
            return None
        if response.status_code != 200:
            # A real Toxiproxy without -proxy-metrics has no /metrics route (404).
            self.failures.append(f"GET {self.url}: HTTP {response.status_code}")
            return None
        return parse_counters(response.text)

    async def aclose(self) -> None:
        await self._client.aclose()


class LinkSampler:
    """Snapshots `counters` on `clock` when entered, every `interval_s` after, and once on exit.

    The sampler owns the counters it is given and closes them on exit. Failed scrapes leave a gap
    in `snapshots` and a line in `failures`.
    """

    def __init__(
        self, counters: LinkCounters, clock: Callable[[], float], *, interval_s: float = 1.0
    ) -> None:
        self.counters = counters
        self.clock = clock
        self.interval_s = interval_s
        self.snapshots: list[Snapshot] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def failures(self) -> list[str]:
        return self.counters.failures

    async def snapshot(self) -> None:
        started = self.clock()
        try:
            links = await self.counters.read()
        except Exception as exc:  # an observer must not break the run: a bug here costs a gap
            self.failures.append(f"reading {self.counters.url}: {type(exc).__name__}: {exc}")
            return
        if links is not None:
            self.snapshots.append(Snapshot(round((started + self.clock()) / 2, 3), links))

    async def __aenter__(self) -> LinkSampler:
        self._task = asyncio.create_task(self._loop(), name="link sampler")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            if exc_type is None:  # the last window ends with a snapshot, not up to a second before it
                await self.snapshot()
        finally:
            await self.counters.aclose()

    async def _loop(self) -> None:
        # Ticks on a fixed grid: a slow scrape delays one snapshot, not every later one.
        start = self.clock()
        ticks = 0
        while True:
            await self.snapshot()
            ticks = max(ticks + 1, int((self.clock() - start) / self.interval_s) + 1)
            await asyncio.sleep(max(0.0, start + ticks * self.interval_s - self.clock()))


def _rate(series: Sequence[tuple[float, float]], window: tuple[float, float]) -> float | None:
    """Increase per second between the first and last points inside `window`; None with fewer than
    two. A counter that went down was reset (its proxy recreated): its new value is the increase."""
    start, end = window
    inside = [(t, value) for t, value in series if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    increase = sum(b - a if b >= a else b for (_, a), (_, b) in pairwise(inside))
    return increase / (inside[-1][0] - inside[0][0])


def _series(snapshots: Iterable[Snapshot], link: str, unit: str) -> list[tuple[float, float]]:
    points = []
    for snap in snapshots:
        count = snap.links.get(link)
        value = None if count is None else count.connections if unit == CONNECTIONS_UNIT else count.bytes
        if value is not None:
            points.append((snap.t, value))
    return points


def amplification(
    snapshots: Sequence[Snapshot],
    *,
    steady: tuple[float, float],
    fault: tuple[float, float],
    faulted: str,
    callers: Iterable[str],
) -> list[LinkRate]:
    """Per link (the faulted one first, then each caller's), one row per unit its proxy counted:
    the rate over the steady window, over the fault window, and fault / steady (None when steady
    is 0 or either rate is missing). A link no snapshot saw gets one bytes/s row of None."""
    links = [(faulted, "faulted")] + [(name, "caller") for name in dict.fromkeys(callers) if name != faulted]
    rows = []
    for link, role in links:
        units = [unit for unit in (CONNECTIONS_UNIT, BYTES_UNIT) if _series(snapshots, link, unit)] or [
            BYTES_UNIT
        ]
        for unit in units:
            series = _series(snapshots, link, unit)
            before, during = _rate(series, steady), _rate(series, fault)
            ratio = during / before if before and during is not None else None
            rows.append(
                LinkRate(
                    link=link,
                    role=role,
                    unit=unit,
                    steady=_round(before),
                    fault=_round(during),
                    ratio=_round(ratio),
                )
            )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
