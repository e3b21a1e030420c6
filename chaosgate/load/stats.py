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


def _number(text: str | None) -> float | None:
    if text is None or text in ("", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _key(row: dict[str, str]) -> str:
    method = row.get("Type") or ""
    return row["Name"] if row["Name"] == AGGREGATED or not method else f"{method} {row['Name']}"


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


def _cumulative(rows: Sequence[HistoryRow], at: float) -> tuple[int, int]:
    """(requests, failures) counted by `at`: the last row written by then, else nothing yet."""
    before = [r for r in rows if r.at <= at]
    return (before[-1].requests, before[-1].failures) if before else (0, 0)


def _endpoint(rows: Sequence[HistoryRow], start: float, end: float) -> EndpointLoad:
    r0, f0 = _cumulative(rows, start)
    r1, f1 = _cumulative(rows, end)
    inside = [r.p95_ms for r in rows if start <= r.at <= end + 1 and r.p95_ms]
    seconds = max(end - start, 1e-9)
    return EndpointLoad(
        requests=r1 - r0,
        failures=f1 - f0,
        rps=round((r1 - r0) / seconds, 2),
        p95_ms=max(inside) if inside else None,
    )


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
        total = _endpoint(by_name.get(AGGREGATED, []), start, end)
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
                endpoints={
                    key: _endpoint(endpoint_rows, start, end)
                    for key, endpoint_rows in sorted(by_name.items())
                    if key != AGGREGATED
                },
            )
        )
    return cut
