"""The probe interface, the context probes share, and the timing that turns one call into a sample."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from chaosgate.probes.outcome import PROBE_DETAIL, classify_http
from chaosgate.samples import Phase, ProbeOutcome, SampleRecord


@dataclass
class ProbeContext:
    """What probes share during a run: the gateway client, the probe timeout, the plugin flows' state
    (accounts, tokens, conversation ids) that setup prepared, and the values declared requests captured."""

    gateway_url: str
    http: httpx.AsyncClient
    timeout_s: float = 2.0
    state: dict[str, Any] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)  # service name -> its own base URL
    # chaos.yaml's probes.degraded_header (set by the probes' setup): a 2xx carrying it is degraded.
    degraded_header: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)  # `${name}` -> value, captured by probes.setup

    def classify(self, response: httpx.Response, *, expected: frozenset[int] = frozenset()) -> ProbeOutcome:
        """One answer's outcome by the product rules, with this system's degraded marker."""
        return classify_http(
            response.status_code,
            response.headers,
            response.content,
            expected_status=expected,
            degraded_header=self.degraded_header,
        )


class Probe(Protocol):
    """One feature probe: do what a user does once, return the outcome. Timeouts are the caller's job."""

    async def __call__(self, ctx: ProbeContext) -> ProbeOutcome: ...


ProbeSetup = Callable[[ProbeContext], Awaitable[None]]


async def timed(
    target: str, probe: Probe, ctx: ProbeContext, clock: Callable[[], float], *, phase: Phase
) -> SampleRecord:
    """Run one probe under the probe timeout: no answer in time is a hang, an exception an error.
    The sample is tagged with the phase it started in."""
    started = time.monotonic()
    at = clock()
    PROBE_DETAIL.set("")
    try:
        async with asyncio.timeout(ctx.timeout_s):
            outcome = await probe(ctx)
        detail = PROBE_DETAIL.get()
    except TimeoutError:
        outcome, detail = ProbeOutcome.HANG, f"no answer within {ctx.timeout_s:g}s"
    except (httpx.HTTPError, OSError) as exc:
        outcome, detail = ProbeOutcome.ERROR, f"{type(exc).__name__}: {exc}"[:200]
    except Exception as exc:  # a plugin's bug must show as an error sample, not stop the run
        outcome, detail = ProbeOutcome.ERROR, f"probe failed: {type(exc).__name__}: {exc}"[:200]
    latency_s = time.monotonic() - started
    return SampleRecord(
        target=target,
        t=round(at, 3),
        phase=phase,
        outcome=outcome,
        latency_ms=round(latency_s * 1000, 2),
        detail=detail,
    )


@dataclass(frozen=True)
class HealthProbe:
    """A component's liveness, straight to the component (not through the gateway or the proxy)."""

    url: str

    async def __call__(self, ctx: ProbeContext) -> ProbeOutcome:
        return ctx.classify(await ctx.http.get(self.url))
