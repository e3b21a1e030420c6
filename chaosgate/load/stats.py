"""Locust's CSV output (stats history and totals) cut into the runner's phases: rps, failures, p95."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaosgate.result import EndpointLoad, PhaseLoad

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class HistoryRow:
    """One row of `<prefix>_stats_history.csv`: one endpoint's figures at one second."""

    at: float  # wall-clock seconds (Locust writes whole seconds)
    users: int
    name: str
    p95_ms: float | None  # Locust's rolling (10 s) p95 at that second
    requests: int  # cumulative
    failures: int  # cumulative
    mean_ms: float = 0.0  # cumulative: the mean response time of all `requests` so far


def _number(text: str | None) -> float | None:
    if text is None or text in ("", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _key(row: dict[str, str]) -> str:
    """`GET /path`; a request the user already named with its method (`POST /orders`) keeps its name."""
    method, name = row.get("Type") or "", row["Name"]
    if name == AGGREGATED or not method or name.upper().startswith(f"{method.upper()} "):
        return name
    return f"{method} {name}"


def read_history(path: Path) -> list[HistoryRow]:
    """Rows of the history CSV; a missing file, or a row cut short by a live write, is skipped."""
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            at, requests = _number(row.get("Timestamp")), _number(row.get("Total Request Count"))
            if at is None or requests is None or not row.get("Name"):
                continue
            rows.append(
                HistoryRow(
                    # A row stamped T was written during [T, T+1): its middle is the best guess.
                    at=at + 0.5,
                    users=int(_number(row.get("User Count")) or 0),
                    name=_key(row),
                    p95_ms=_number(row.get("95%")),
                    requests=int(requests),
                    failures=int(_number(row.get("Total Failure Count")) or 0),
                    mean_ms=_number(row.get("Total Average Response Time")) or 0.0,
                )
            )
    return rows


def read_totals(path: Path, seconds: float) -> dict[str, EndpointLoad]:
    """`<prefix>_stats.csv`: each endpoint over the whole load run."""
    if not path.exists():
        return {}
    totals = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("Name"):
                continue
            requests = int(_number(row.get("Request Count")) or 0)
            failures = int(_number(row.get("Failure Count")) or 0)
            totals[_key(row)] = EndpointLoad(
                requests=requests,
                failures=failures,
                rps=round(requests / seconds, 2) if seconds > 0 else 0.0,
                p95_ms=_number(row.get("95%")),
            )
    return totals


def _cumulative(rows: Sequence[HistoryRow], at: float) -> HistoryRow | None:
    """The last row written by `at`, else None (nothing counted yet)."""
    before = [r for r in rows if r.at <= at]
    return before[-1] if before else None


@dataclass(frozen=True)
class Span:
    """One endpoint (or all) over a span of time, with the mean latency Little's law needs."""

    load: EndpointLoad
    mean_ms: float | None  # of the requests that completed within the span

    @property
    def in_flight(self) -> float | None:
        """Little's law: requests in flight on average = completion rate × mean latency."""
        return None if self.mean_ms is None else round(self.load.rps * self.mean_ms / 1000, 2)


def _span(rows: Sequence[HistoryRow], start: float, end: float) -> Span:
    first, last = _cumulative(rows, start), _cumulative(rows, end)
    r0, f0, m0 = (first.requests, first.failures, first.mean_ms) if first else (0, 0, 0.0)
    r1, f1, m1 = (last.requests, last.failures, last.mean_ms) if last else (0, 0, 0.0)
    inside = [r.p95_ms for r in rows if start <= r.at <= end + 1 and r.p95_ms]
    seconds = max(end - start, 1e-9)
    # Locust's cumulative mean over n requests: the span's own mean is the difference of the sums.
    mean_ms = max((m1 * r1 - m0 * r0) / (r1 - r0), 0.0) if r1 > r0 else None
    load = EndpointLoad(
        requests=r1 - r0,
        failures=f1 - f0,
        rps=round((r1 - r0) / seconds, 2),
        p95_ms=max(inside) if inside else None,
    )
    return Span(load=load, mean_ms=mean_ms)


def cut_phases(
    rows: Iterable[HistoryRow], phases: Sequence[tuple[str, float, float]], *, origin: float
) -> list[PhaseLoad]:
    """Each (name, wall start, wall end) phase's figures; `origin` is the scenario's wall start."""
    by_name: dict[str, list[HistoryRow]] = {}
    for row in sorted(rows, key=lambda r: r.at):
        by_name.setdefault(row.name, []).append(row)
    cut = []
    for name, start, end in phases:
        if end <= start:
            continue
        span = _span(by_name.get(AGGREGATED, []), start, end)
        total = span.load
        cut.append(
            PhaseLoad(
                phase=name,
                start=round(start - origin, 3),
                end=round(end - origin, 3),
                requests=total.requests,
                failures=total.failures,
                rps=total.rps,
                failure_rate=round(total.failures / total.requests, 4) if total.requests else 0.0,
                p95_ms=total.p95_ms,
                in_flight=span.in_flight,
                endpoints={
                    key: _span(endpoint_rows, start, end).load
                    for key, endpoint_rows in sorted(by_name.items())
                    if key != AGGREGATED
                },
            )
        )
    return cut
