"""A per-backend circuit breaker for asyncio (CIRCUIT_BREAKER).

Why not pybreaker (installed): its async support is `call_async`, which needs tornado; its `calling()`
context manager drives a generator under a threading lock; and its half-open state lets every
concurrent caller through, so with a hung backend a whole burst of requests waits for the proxy
timeout on every trial. This one admits exactly one trial call while half-open and answers the rest
at once, which is what keeps the gateway fast while a backend is down.

States and the `circuit_breaker_state{backend}` gauge: 0 closed, 1 open, 2 half-open.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from target_system.common.errors import Unavailable
from target_system.common.metrics import ServiceMetrics


class BreakerState(enum.IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitOpen(Unavailable):
    """The backend's breaker is open: answered at once without calling it."""

    CODE = "circuit_open"
    MESSAGE = "backend circuit is open"


class CircuitBreaker:
    """Opens after `fail_max` failures in a row, tries one call after `reset_timeout`, closes on success."""

    def __init__(
        self,
        backend: str,
        *,
        fail_max: int,
        reset_timeout: float,
        metrics: ServiceMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.fail_max = max(1, fail_max)
        self.reset_timeout = reset_timeout
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._gauge = metrics.gauge(
            "circuit_breaker_state",
            "Breaker state per backend: 0 closed, 1 open, 2 half-open",
            ("service", "backend"),
        ).labels(metrics.service, backend)
        self._transitions = metrics.counter(
            "circuit_breaker_transitions_total", "Breaker state changes", ("service", "backend", "to")
        )
        self._service = metrics.service
        self._gauge.set(0)

    def before_call(self) -> None:
        """Let the call through, or raise `CircuitOpen` (503) without calling the backend."""
        if self.state is BreakerState.CLOSED:
            return
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.reset_timeout:
                raise self._open_error()
            self._move(BreakerState.HALF_OPEN)
        # Half-open: a single trial at a time; the others are refused until it resolves.
        if self._trial_in_flight:
            raise self._open_error()
        self._trial_in_flight = True

    def record_success(self) -> None:
        self.failures = 0
        self._trial_in_flight = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            self._trip()
            return
        self.failures += 1
        if self.state is BreakerState.CLOSED and self.failures >= self.fail_max:
            self._trip()

    def release(self) -> None:
        """The call ended without a verdict (e.g. the client went away): free the half-open trial slot."""
        self._trial_in_flight = False

    def _trip(self) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        self.state = state
        self._gauge.set(int(state))
        self._transitions.labels(self._service, self.backend, state.name.lower()).inc()

    def _open_error(self) -> CircuitOpen:
        retry_after = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
        return CircuitOpen(
            f"backend {self.backend!r} is failing; circuit open",
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )
