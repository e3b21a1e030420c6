"""Calibration: the stack's capacity, the highest offered rate at which latency and failures stay in bounds.

One Locust run offers a rising step schedule of open-loop arrivals (evenly paced, so the offered count
carries no sampling noise); each Locust process records each step's figures itself (its gauge, see
chaosgate.load.openloop), because the stats history's percentiles are rolling 10 s windows that would
blur steps of a few seconds. A step is in bounds when failures ≤ 1%, the answers served within it kept
up with 90% of its arrivals (achieved ≥ 90% of offered), and p95 ≤ max(3 × the first step's p95, the
first step's p95 + 250 ms), the scorer's rule for "healthy". Capacity is the highest offered rate of
the leading run of in-bounds steps; the schedule stops at the first step out of bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosgate.errors import RunError
from chaosgate.load.plan import ENV_ARRIVALS, open_loop_environment, steps_environment
from chaosgate.load.process import LocustRun
from chaosgate.result import CapacityRecord, CapacityStep

WARMUP_S = 1.0  # the head of each step left out of its figures
LEAD_IN_S = 10.0  # Locust's start and every user's setup happen before the first step
MAX_FAILURE_RATE = 0.01
MIN_SERVED_SHARE = 0.9
P95_FACTOR, P95_SLACK_MS = 3.0, 250.0
MAX_IN_FLIGHT = 1000  # per process during calibration: beyond this the stack is not keeping up anyway
POLL_S = 0.5
GAUGE_PERIOD_S = 1.0  # how stale a gauge may be (openloop writes each second)


@dataclass
class _Step:
    """One step's figures, summed over the Locust processes' gauges."""

    offered_rps: float
    seconds: float
    arrivals: int = 0
    rejected: int = 0
    ok: int = 0
    failed: int = 0
    served: int = 0  # successes completed within the step
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def open(self) -> int:
        """Admitted arrivals with no outcome yet: slower than anything measured so far."""
        return max(self.arrivals - self.rejected - self.ok - self.failed, 0)

    def p95_ms(self) -> float | None:
        """None when more than 5% of the arrivals had no answer (the p95 is beyond the wait)."""
        latencies = sorted(self.latencies_ms)
        count = len(latencies) + self.open
        if not count:
            return None
        rank = math.ceil(0.95 * count) - 1
        return latencies[rank] if rank < len(latencies) else None

    def measured(self, bound_ms: float | None, *, slack: int) -> CapacityStep:
        """`slack`: the counts' granularity (each evenly paced user gains or loses one arrival at
        each edge of the window)."""
        expected = self.offered_rps * self.seconds
        failure_rate = (self.rejected + self.failed) / self.arrivals if self.arrivals else 1.0
        p95 = self.p95_ms()
        within = (
            self.arrivals + slack >= MIN_SERVED_SHARE * expected  # the load generator kept up
            and self.served + slack >= MIN_SERVED_SHARE * self.arrivals  # throughput kept up
            and failure_rate <= MAX_FAILURE_RATE
            and p95 is not None
            and (bound_ms is None or p95 <= bound_ms)
        )
        return CapacityStep(
            offered_rps=self.offered_rps,
            achieved_rps=round(self.served / self.seconds, 2) if self.seconds else 0.0,
            p95_ms=p95,
            failure_rate=round(failure_rate, 4),
            within_bounds=within,
        )


def _steps(gauges: Sequence[dict[str, Any]], count: int) -> list[_Step]:
    summed: list[_Step] = []
    for i in range(count):
        parts = [g["steps"][i] for g in gauges if len(g.get("steps", [])) > i]
        if not parts:
            break
        step = _Step(offered_rps=float(parts[0]["offered_rps"]), seconds=float(parts[0]["seconds"]))
        for part in parts:
            step.arrivals += int(part["arrivals"])
            step.rejected += int(part["rejected"])
            step.ok += int(part["ok"])
            step.failed += int(part["failed"])
            step.served += int(part.get("served", 0))
            step.latencies_ms.extend(float(ms) for ms in part["latencies_ms"])
        summed.append(step)
    while summed and not summed[-1].arrivals:
        summed.pop()  # steps the schedule never reached (it stopped early)
    return summed


def p95_bound_ms(first_p95_ms: float) -> float:
    return max(P95_FACTOR * first_p95_ms, first_p95_ms + P95_SLACK_MS)


def judge(steps: Sequence[_Step], *, users: int) -> list[CapacityStep]:
    """Each step measured against the bound set by the first step's p95."""
    if not steps:
        return []
    first = steps[0].measured(None, slack=users)
    bound = p95_bound_ms(first.p95_ms) if first.p95_ms is not None else None
    return [first, *(step.measured(bound, slack=users) for step in steps[1:])]


def capacity_of(measured: Sequence[CapacityStep]) -> float:
    """The highest offered rate of the leading run of in-bounds steps (0 when the first is out)."""
    capacity = 0.0
    for step in measured:
        if not step.within_bounds:
            break
        capacity = max(capacity, step.offered_rps)
    return capacity


async def calibrate(
    *,
    locustfile: Path,
    host: str,
    out_dir: Path,
    users: int,
    workers: int,
    steps: Sequence[float],
    step_s: float,
    request_timeout_s: float,
    profile: str,
    fraction: float,
    lead_in_s: float = LEAD_IN_S,
    definition_env: Mapping[str, str] | None = None,
) -> CapacityRecord:
    """Offer each rate of `steps` for `step_s` seconds and return the capacity found.

    `workers` > 0 runs a Locust master and that many workers (the processes share the schedule's
    epoch); 0 runs one Locust process; `definition_env` is what the locustfile itself reads (the
    declared requests' file). RunError when the stack fails even the first step.
    """
    rates = [float(r) for r in steps]
    if not rates or step_s <= WARMUP_S or not 0 < fraction <= 1 or any(r <= 0 for r in rates):
        raise ValueError(f"calibration needs steps > 0, step_s > {WARMUP_S:g} s and 0 < fraction ≤ 1")
    measured_at = time.time()
    t0 = math.ceil(measured_at + lead_in_s)
    run = _calibration_run(
        locustfile=locustfile,
        host=host,
        out_dir=out_dir,
        users=users,
        workers=workers,
        schedule=[(r, step_s) for r in rates],
        request_timeout_s=request_timeout_s,
        t0=t0,
        run_time_s=math.ceil(t0 - measured_at + step_s * len(rates) + request_timeout_s + 2),
        definition_env=definition_env,
    )
    try:
        run.start()
        await run.ready(timeout_s=lead_in_s + 30)
        if time.time() > t0:
            raise RunError(
                f"calibration: Locust's users were set up only {time.time() - t0:.1f}s after the schedule "
                f"began; give calibration a longer lead-in than {lead_in_s:g}s (see {out_dir})"
            )
        await _watch(run, t0=t0, rates=rates, step_s=step_s, request_timeout_s=request_timeout_s)
    finally:
        await asyncio.to_thread(run.stop)
    measured = judge(_steps(run.gauges(), len(rates)), users=users)
    capacity = capacity_of(measured)
    if not measured or capacity <= 0:
        raise _no_capacity(host, rates[0], measured, out_dir)
    return _record(measured, capacity, fraction=fraction, profile=profile, measured_at=measured_at)


def _calibration_run(
    *,
    locustfile: Path,
    host: str,
    out_dir: Path,
    users: int,
    workers: int,
    schedule: list[tuple[float, float]],
    request_timeout_s: float,
    t0: float,
    run_time_s: int,
    definition_env: Mapping[str, str] | None,
) -> LocustRun:
    """The Locust run that offers the step schedule (rate, seconds) from `t0`, evenly paced."""
    rates = [rate for rate, _ in schedule]
    processes = max(1, workers)
    cap = min(math.ceil(max(rates) * request_timeout_s / processes) + 1, MAX_IN_FLIGHT)
    return LocustRun(
        host=host,
        users=users,
        spawn_rate=max(1.0, users / 2),
        run_time_s=run_time_s,
        out_dir=out_dir,
        workers=workers,
        locustfile=locustfile,
        environment={
            **(definition_env or {}),
            **open_loop_environment(
                users=users, rate_rps=rates[0], max_in_flight=cap, request_timeout_s=request_timeout_s
            ),
            **steps_environment(schedule, t0=t0, warmup_s=WARMUP_S),
            ENV_ARRIVALS: "even",
        },
    )


def _no_capacity(host: str, first_rate: float, measured: Sequence[CapacityStep], out_dir: Path) -> RunError:
    """The error when the stack failed even the first step, with what that step saw."""
    seen = "no figures"
    if measured:
        first = measured[0]
        seen = f"served {first.achieved_rps:g}/s, failures {first.failure_rate:.0%}, p95 {first.p95_ms} ms"
    return RunError(
        f"calibration: the stack at {host} could not take even {first_rate:g} requests/s ({seen}); "
        f"is it up and healthy? Locust's logs are in {out_dir}"
    )


def _record(
    measured: list[CapacityStep], capacity: float, *, fraction: float, profile: str, measured_at: float
) -> CapacityRecord:
    """The capacity found, the load it sets and the bound its steps were judged by."""
    first_p95 = measured[0].p95_ms or 0.0
    return CapacityRecord(
        rps=capacity,
        fraction=fraction,
        target_rps=round(capacity * fraction, 2),
        profile=profile,
        measured_at=measured_at,
        reused=False,
        bound=(
            f"failures ≤ {MAX_FAILURE_RATE:.0%}, achieved ≥ {MIN_SERVED_SHARE:.0%} of offered, p95 ≤ "
            f"max({P95_FACTOR:g} × {first_p95:g} ms, {first_p95:g} ms + {P95_SLACK_MS:g} ms) = "
            f"{p95_bound_ms(first_p95):g} ms"
        ),
        steps=measured,
    )


async def _watch(
    run: LocustRun, *, t0: float, rates: Sequence[float], step_s: float, request_timeout_s: float
) -> None:
    """Until Locust ends its schedule, or a finished step is out of bounds (its answers waited for
    as long as they can still count: the timeout, or the p95 bound once the first step set it)."""
    end = t0 + step_s * len(rates) + request_timeout_s + 1
    judged = 0
    while time.time() < end and not run.exited():
        await asyncio.sleep(POLL_S)
        measured = judge(_steps(run.gauges(), len(rates)), users=run.users)
        bound_s = request_timeout_s
        if measured and measured[0].p95_ms is not None:
            bound_s = min(request_timeout_s, p95_bound_ms(measured[0].p95_ms) / 1000)
        for i in range(judged, len(measured)):
            grace = (request_timeout_s if i == 0 else bound_s) + GAUGE_PERIOD_S + POLL_S
            if time.time() < t0 + step_s * (i + 1) + grace:
                break
            judged = i + 1
            if not measured[i].within_bounds:
                return


def load_cached(path: Path, *, key: str, max_age_s: float) -> CapacityRecord | None:
    """A calibration of the same stack, profile and switches (`key`) younger than `max_age_s`."""
    entry = _read_cache(path).get(key)
    if entry is None:
        return None
    with contextlib.suppress(ValueError):
        record = CapacityRecord.model_validate(entry)
        if 0 <= time.time() - record.measured_at <= max_age_s:
            return record.model_copy(update={"reused": True})
    return None


def store(path: Path, key: str, record: CapacityRecord) -> None:
    """Keep `record` under `key` beside the others (written whole, then moved into place)."""
    cache = _read_cache(path)
    cache[key] = record.model_copy(update={"reused": False}).model_dump(mode="json")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(cache, indent=2, sort_keys=True))
    temporary.replace(path)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # missing or damaged: calibrate again
    return data if isinstance(data, dict) else {}
