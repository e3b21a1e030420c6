"""What load a scenario runs: the open-loop plan, and the environment that hands it to Locust's processes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The variables chaosgate.load.openloop reads inside a Locust process (one vocabulary, here).
ENV_RPS = "CHAOSGATE_LOAD_RPS"  # offered arrivals per second, over all processes and users
ENV_USERS = "CHAOSGATE_LOAD_USERS"  # users over all processes: each paces RPS / USERS
ENV_MAX_IN_FLIGHT = "CHAOSGATE_LOAD_MAX_IN_FLIGHT"  # per Locust process; arrivals beyond it fail
ENV_TIMEOUT_S = "CHAOSGATE_LOAD_TIMEOUT_S"  # every request's timeout
ENV_STEPS = "CHAOSGATE_LOAD_STEPS"  # "rps:seconds,rps:seconds,..." from T0; overrides RPS
ENV_T0 = "CHAOSGATE_LOAD_T0"  # epoch seconds the step schedule starts at (shared by all processes)
ENV_WARMUP_S = "CHAOSGATE_LOAD_WARMUP_S"  # the head of each step left out of its figures
ENV_GAUGE_DIR = "CHAOSGATE_LOAD_GAUGE_DIR"  # where each process writes openloop-<pid>.json each second
ENV_ARRIVALS = "CHAOSGATE_LOAD_ARRIVALS"  # "poisson" (default) or "even"
ENV_REQUESTS = "CHAOSGATE_LOAD_REQUESTS"  # the JSON file of chaos.yaml's load.requests (generic locustfile)


@dataclass(frozen=True)
class LoadPlan:
    """The steady open-loop load one scenario runs under, in every window (steady, fault, recovery)."""

    locustfile: Path
    users: int
    rate_rps: float  # offered arrivals per second: capacity_rps × fraction when calibrated
    max_in_flight: int  # over all Locust processes; arrivals beyond it are counted as failures
    request_timeout_s: float
    capacity_rps: float | None = None
    fraction: float | None = None
    definition_env: Mapping[str, str] = field(default_factory=dict)  # what the locustfile itself reads

    def __post_init__(self) -> None:
        if self.users < 1 or self.rate_rps <= 0 or self.max_in_flight < 1 or self.request_timeout_s <= 0:
            raise ValueError(f"a load plan needs users ≥ 1, rate > 0, max_in_flight ≥ 1, timeout > 0: {self}")

    def environment(self, *, processes: int) -> dict[str, str]:
        """The variables for each of `processes` Locust processes that run users."""
        return {
            **self.definition_env,
            **open_loop_environment(
                users=self.users,
                rate_rps=self.rate_rps,
                max_in_flight=math.ceil(self.max_in_flight / max(1, processes)),
                request_timeout_s=self.request_timeout_s,
            ),
        }


def open_loop_environment(
    *, users: int, rate_rps: float, max_in_flight: int, request_timeout_s: float
) -> dict[str, str]:
    return {
        ENV_USERS: str(users),
        ENV_RPS: f"{rate_rps:g}",
        ENV_MAX_IN_FLIGHT: str(max_in_flight),
        ENV_TIMEOUT_S: f"{request_timeout_s:g}",
    }


def steps_environment(steps: Sequence[tuple[float, float]], *, t0: float, warmup_s: float) -> dict[str, str]:
    """A step schedule of (rps, seconds), starting at the epoch `t0`."""
    return {
        ENV_STEPS: ",".join(f"{rps:g}:{seconds:g}" for rps, seconds in steps),
        ENV_T0: f"{t0:.3f}",
        ENV_WARMUP_S: f"{warmup_s:g}",
    }
