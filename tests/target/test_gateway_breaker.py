"""The gateway's circuit breaker as a state machine, on a fake clock."""

from __future__ import annotations

import pytest

from target_system.common.metrics import ServiceMetrics
from target_system.gateway.breaker import BreakerState, CircuitBreaker, CircuitOpen


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_breaker(clock: FakeClock, metrics: ServiceMetrics | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        "auth", fail_max=3, reset_timeout=5.0, metrics=metrics or ServiceMetrics("gateway"), clock=clock
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_fail_max_consecutive_failures_only() -> None:
    breaker = make_breaker(FakeClock())
    fail(breaker, 2)
    breaker.before_call()
    breaker.record_success()  # a success resets the run of failures
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.status == 503 and refused.value.code == "circuit_open"


def test_half_open_admits_one_trial_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 5.0
    breaker.before_call()  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # everyone else waits for the trial's verdict
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_failed_trial_reopens_for_another_reset_timeout() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 5.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_released_trial_frees_the_slot() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 5.0
    breaker.before_call()
    breaker.release()  # the trial's client went away: no verdict
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN


def test_state_and_transitions_are_exported() -> None:
    clock = FakeClock()
    metrics = ServiceMetrics("gateway")
    breaker = make_breaker(clock, metrics)
    fail(breaker, 3)
    labels = {"service": "gateway", "backend": "auth"}
    assert metrics.registry.get_sample_value("circuit_breaker_state", labels) == 1
    clock.now += 5.0
    breaker.before_call()
    assert metrics.registry.get_sample_value("circuit_breaker_state", labels) == 2
    breaker.record_success()
    assert metrics.registry.get_sample_value("circuit_breaker_state", labels) == 0
    opened = metrics.registry.get_sample_value("circuit_breaker_transitions_total", {**labels, "to": "open"})
    assert opened == 1
