"""An open-loop Locust user: arrivals at a set rate that never wait for answers.

Imported only inside Locust processes (`python -m locust -f <locustfile>`): Locust monkey-patches the
process with gevent on import, which must never happen to the harness.

Locust has no open-loop mode: a Locust user is a closed loop (task, wait, task), so a slow backend
slows the load itself down and pools never fill. Here each user's single task paces arrivals (Poisson
by default) at CHAOSGATE_LOAD_RPS / CHAOSGATE_LOAD_USERS and runs each arrival's action in a greenlet of
its own, so a hung backend piles requests up in flight (Little's law: in flight = rate × latency) up
to a per-process cap; arrivals beyond the cap fail at once as "overload: in-flight cap", never queue.

Each process writes a gauge (openloop-<pid>.json in CHAOSGATE_LOAD_GAUGE_DIR) every second: requests
in flight, their peak, arrivals, and, under a step schedule (calibration), each step's figures.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gevent
import locust.stats
from gevent.pool import Group
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import MasterRunner

from chaosgate.load.plan import (
    ENV_ARRIVALS,
    ENV_GAUGE_DIR,
    ENV_MAX_IN_FLIGHT,
    ENV_RPS,
    ENV_STEPS,
    ENV_T0,
    ENV_TIMEOUT_S,
    ENV_USERS,
    ENV_WARMUP_S,
)

OVERLOAD = "overload: in-flight cap"
NOT_READY = "setup: user not ready"
SETUP_RETRY_S = 3.0  # a user whose setup failed tries again at most this often
MAX_LAG_S = 1.0  # a generator starved of CPU catches up this much, not in one burst
LATENCIES_PER_STEP = 50_000  # bounds the gauge's memory at any rate
ACTION_REQUESTS = 2  # the most sequential requests one action makes: its guard is this × the timeout

F = TypeVar("F", bound=Callable[..., None])


def _env_float(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    return float(text) if text else default


def parse_steps(text: str) -> tuple[tuple[float, float], ...]:
    """'rps:seconds,rps:seconds' → ((rps, seconds), ...); ValueError names the bad part."""
    steps = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        rps, _, seconds = part.partition(":")
        try:
            step = (float(rps), float(seconds))
        except ValueError:
            raise ValueError(f"{ENV_STEPS}: {part!r} is not 'rps:seconds'") from None
        if step[0] < 0 or step[1] <= 0:
            raise ValueError(f"{ENV_STEPS}: {part!r} needs rps ≥ 0 and seconds > 0")
        steps.append(step)
    return tuple(steps)


@dataclass(frozen=True)
class Schedule:
    """The offered rate over time: constant, or steps from the shared epoch t0 (0 after the last)."""

    rps: float
    steps: tuple[tuple[float, float], ...] = ()
    t0: float = 0.0

    @classmethod
    def from_env(cls) -> Schedule:
        steps = parse_steps(os.environ.get(ENV_STEPS, ""))
        return cls(rps=_env_float(ENV_RPS, 1.0), steps=steps, t0=_env_float(ENV_T0, time.time()))

    def bounds(self) -> Iterator[tuple[float, float, float]]:
        """(wall start, wall end, rps) of each step."""
        start = self.t0
        for rps, seconds in self.steps:
            yield start, start + seconds, rps
            start += seconds

    def rate(self, now: float) -> float:
        if not self.steps:
            return self.rps
        if now < self.t0:
            return self.steps[0][0]  # users warm up at the lowest step until the schedule starts
        return next((rps for start, end, rps in self.bounds() if start <= now < end), 0.0)

    def next_change(self, now: float) -> float:
        """The wall time the rate changes next (inf when it never does)."""
        edges = [self.t0] + [end for _, end, _ in self.bounds()] if self.steps else []
        return next((edge for edge in edges if edge > now), float("inf"))


@dataclass
class Arrival:
    step: int | None  # the schedule step it counts in (None: outside the measured part of any step)
    failed: bool = False
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class StepFigures:
    offered_rps: float
    seconds: float  # measured: the step less its warm-up
    arrivals: int = 0
    rejected: int = 0  # over the in-flight cap
    ok: int = 0  # arrivals whose every request succeeded (counted in the step they arrived in)
    failed: int = 0
    served: int = 0  # successful arrivals that completed within this step (its throughput)
    latencies_ms: list[float] = field(default_factory=list)


class Gauge:
    """One per Locust process: the in-flight cap, and what the harness reads back (a JSON file)."""

    def __init__(self, *, cap: int, schedule: Schedule, warmup_s: float, out: Path | None) -> None:
        self.cap = cap
        self.schedule = schedule
        self.warmup_s = warmup_s
        self.out = out
        self.in_flight = 0
        self.peak = 0
        self.arrivals = 0
        self.rejected = 0
        self.users_started = 0  # users past their first setup attempt: arrivals flow from each
        self.users_ready = 0  # of which setup succeeded
        self.steps = [
            StepFigures(offered_rps=rps, seconds=max(end - start - warmup_s, 0.0))
            for start, end, rps in schedule.bounds()
        ]
        self._by_greenlet: dict[Any, Arrival] = {}

    def _step(self, now: float) -> int | None:
        for i, (start, end, _) in enumerate(self.schedule.bounds()):
            if start + self.warmup_s <= now < end:
                return i
        return None

    def admit(self) -> Arrival | None:
        """An arrival within the cap, or None (counted as rejected)."""
        arrival = Arrival(step=self._step(time.time()))
        self.arrivals += 1
        step = self.steps[arrival.step] if arrival.step is not None else None
        if step is not None:
            step.arrivals += 1
        if self.in_flight >= self.cap:
            self.rejected += 1
            if step is not None:
                step.rejected += 1
            return None
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return arrival

    def bind(self, arrival: Arrival) -> None:
        """The requests the current greenlet makes from now on belong to `arrival`."""
        self._by_greenlet[gevent.getcurrent()] = arrival

    def done(self, arrival: Arrival) -> None:
        self._by_greenlet.pop(gevent.getcurrent(), None)
        self.in_flight -= 1
        finished_in = self._step(time.time())
        if finished_in is not None and not arrival.failed:
            self.steps[finished_in].served += 1
        if arrival.step is None:
            return
        step = self.steps[arrival.step]
        if arrival.failed:
            step.failed += 1
        else:
            step.ok += 1
        room = LATENCIES_PER_STEP - len(step.latencies_ms)
        step.latencies_ms.extend(round(ms, 1) for ms in arrival.latencies_ms[: max(room, 0)])

    def on_request(self, response_time: float | None = None, exception: Any = None, **_: Any) -> None:
        arrival = self._by_greenlet.get(gevent.getcurrent())
        if arrival is not None:
            arrival.latencies_ms.append(float(response_time or 0.0))
            arrival.failed = arrival.failed or exception is not None

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "at": time.time(),
            "cap": self.cap,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak,
            "arrivals": self.arrivals,
            "rejected": self.rejected,
            "users_started": self.users_started,
            "users_ready": self.users_ready,
            "steps": [vars(step) for step in self.steps],
        }

    def write(self) -> None:
        if self.out is None:
            return
        temporary = self.out.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.snapshot()))
        temporary.replace(self.out)  # readers never see half a file

    def keep_writing(self) -> None:
        while True:  # bounded by the Locust process's own --run-time
            gevent.sleep(1.0)
            self.write()


def action(weight: int) -> Callable[[F], F]:
    """Marks a method of an OpenLoopUser as one weighted entry of its action table."""

    def mark(method: F) -> F:
        method.chaosgate_weight = weight  # type: ignore[attr-defined]
        return method

    return mark


class OpenLoopUser(FastHttpUser):
    """Subclasses define `setup()` (return whether the user is ready) and `@action(weight)` methods."""

    abstract = True
    wait_time = constant(0)
    total_users = max(1, int(_env_float(ENV_USERS, 1)))
    request_timeout_s = _env_float(ENV_TIMEOUT_S, 5.0)
    network_timeout = request_timeout_s
    connection_timeout = request_timeout_s
    # Every arrival may hold a connection: a smaller pool would queue arrivals behind it (closed loop).
    concurrency = max(1, int(_env_float(ENV_MAX_IN_FLIGHT, 200)))
    poisson = os.environ.get(ENV_ARRIVALS, "poisson") != "even"
    gauge: ClassVar[Gauge | None] = None  # set per process by the init listener below

    def setup(self) -> bool:
        return True

    def actions(self) -> list[tuple[str, Callable[[Any], None], int]]:
        """(name, action, weight) of each kind of arrival; an action is called with the user. By
        default the methods marked @action; a user built from data (declared load) overrides this."""
        table = [(name, getattr(type(self), name)) for name in dir(type(self))]
        return [(name, fn, fn.chaosgate_weight) for name, fn in table if hasattr(fn, "chaosgate_weight")]

    def on_start(self) -> None:
        self._pending = Group()
        self._next_at: float | None = None
        table = self.actions()
        self._actions = [(name, fn) for name, fn, _ in table]
        self._weights = [weight for _, _, weight in table]
        if not self._actions:
            raise ValueError(f"{type(self).__name__} has no @action methods")
        self._setting_up = False
        self._setup_at = time.monotonic()
        self._ready = self._guarded_setup()
        if self.gauge is not None:
            self.gauge.users_started += 1
            self.gauge.users_ready += self._ready
            self.gauge.write()  # the harness waits for every user to start: tell it now, not in a second

    def on_stop(self) -> None:
        self._pending.kill(block=False)

    def _guarded_setup(self) -> bool:
        try:
            return self.setup()
        except Exception as exc:  # a fault may be on: the user retries later instead of dying
            self._fail("setup", "error: setup", exc)
            return False

    def _retry_setup(self) -> None:
        try:
            self._ready = self._guarded_setup()
            if self._ready and self.gauge is not None:
                self.gauge.users_ready += 1
        finally:
            self._setting_up = False

    def _gap(self, rate: float) -> float:
        return random.expovariate(rate) if self.poisson else 1.0 / rate

    @task
    def arrivals(self) -> None:
        """About a second of arrivals, then back to Locust, which can stop the user in between."""
        gauge = self.gauge
        assert gauge is not None, "the init listener sets the gauge in every process that runs users"
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0:
            rate = gauge.schedule.rate(time.time()) / self.total_users
            if rate <= 0:
                self._next_at = None
                gevent.sleep(min(0.1, left))
                continue
            if self._next_at is None:
                # Even pacing starts each user at a random phase, or all users would arrive together.
                first = self._gap(rate) if self.poisson else random.uniform(0.0, 1.0 / rate)
                self._next_at = time.monotonic() + first
            wait = self._next_at - time.monotonic()
            change = gauge.schedule.next_change(time.time()) - time.time()
            if min(wait, change) > left:
                gevent.sleep(left)
                return
            if change < wait:
                # The rate changes before the next arrival: redraw at the change (arrivals are memoryless).
                gevent.sleep(max(change, 0.0) + 0.001)
                self._next_at = None
                continue
            gevent.sleep(max(wait, 0.0))
            self._arrive(gauge)
            self._next_at = max(self._next_at, time.monotonic() - MAX_LAG_S) + self._gap(rate)

    def _arrive(self, gauge: Gauge) -> None:
        arrival = gauge.admit()
        if arrival is None:
            self._fail("OPENLOOP", OVERLOAD, RuntimeError(f"{gauge.cap} requests already in flight"))
            return
        if not self._ready:
            arrival.failed = True
            gauge.done(arrival)
            self._fail("OPENLOOP", NOT_READY, RuntimeError("setup has not succeeded yet"))
            if not self._setting_up and time.monotonic() - self._setup_at >= SETUP_RETRY_S:
                self._setting_up, self._setup_at = True, time.monotonic()
                self._pending.spawn(self._retry_setup)
            return
        name, run = random.choices(self._actions, weights=self._weights)[0]
        self._pending.spawn(self._perform, gauge, arrival, name, run)

    def _perform(self, gauge: Gauge, arrival: Arrival, name: str, run: Callable[[Any], None]) -> None:
        gauge.bind(arrival)
        guard = gevent.Timeout(ACTION_REQUESTS * self.request_timeout_s + 1.0)
        guard.start()
        try:
            run(self)
        except gevent.Timeout as exc:
            if exc is not guard:
                raise
            self._fail("OPENLOOP", f"timeout: {name}", RuntimeError("action exceeded its guard"))
        except Exception as exc:  # one failed arrival, whatever broke, never the user
            self._fail("OPENLOOP", f"error: {name}", exc)
        except BaseException:  # killed as the user stops: not a success
            arrival.failed = True
            raise
        finally:
            guard.close()
            gauge.done(arrival)

    def _fail(self, kind: str, name: str, error: BaseException) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=0, response_length=0, exception=error, context={}
        )

    def fire(self, kind: str, name: str, started: float, error: BaseException | None) -> None:
        """Records a non-HTTP request (a WebSocket session, say) that started at perf_counter `started`."""
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


@events.init.add_listener
def _per_process(environment: Environment, **_: Any) -> None:
    # The harness reads the stats history while Locust runs: flush it each second, not every 5 s.
    locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1
    if isinstance(environment.runner, MasterRunner):
        return  # a master runs no users
    directory = os.environ.get(ENV_GAUGE_DIR, "")
    gauge = Gauge(
        cap=OpenLoopUser.concurrency,
        schedule=Schedule.from_env(),
        warmup_s=_env_float(ENV_WARMUP_S, 1.0),
        out=Path(directory) / f"openloop-{os.getpid()}.json" if directory else None,
    )
    OpenLoopUser.gauge = gauge
    environment.events.request.add_listener(gauge.on_request)
    environment.events.quitting.add_listener(lambda **_: gauge.write())
    gevent.spawn(gauge.keep_writing)
