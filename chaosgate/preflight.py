"""Before anything is touched: the plan of a run, and whether the running stack has all it names.

`chaosgate run --dry-run` prints both and stops; every run checks the stack the same way before its
first sweep or fault, so a link with no proxy on the Toxiproxy is named before the first scenario
instead of failing a removal mid-run. Only reads: GET requests, nothing on the Toxiproxy, in the
stack or in the fault ledger changes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from chaosgate.faults import describe_fault
from chaosgate.scenario.models import Scenario, ToxiproxyFault
from chaosgate.topology import Topology


def plan_lines(scenarios: Sequence[Scenario], topology: Topology, *, time_scale: float) -> list[str]:
    """What the run would do, scenario by scenario: faults (where, when, how long), what is probed."""
    lines: list[str] = []
    for scenario in scenarios:
        lines.append(
            f"{scenario.name} (target {scenario.target}, weight {scenario.weight:g}): {scenario.title}"
        )
        for fault in scenario.faults:
            start, duration = fault.start * time_scale, fault.duration * time_scale
            lines.append(
                f"  fault   {fault.injector}: {describe_fault(fault)} at +{start:g}s for {duration:g}s"
            )
        broken = topology.features_affected_by(scenario.target)
        probed = sorted(topology.features)
        lines.append(f"  probes  {len(probed)} feature(s): {', '.join(probed) or 'none declared'}")
        if broken:
            lines.append(f"  breaks  {', '.join(sorted(broken))} (hard dependents of {scenario.target})")
        for feature, outcome in scenario.expect.items():
            lines.append(f"  expect  {feature}: {outcome.value}")
        if scenario.workload.writers:
            writers = ", ".join(str(w) for w in scenario.workload.writers)
            lines.append(f"  writers {writers} at {scenario.workload.rate:g}/s each")
        recovery = scenario.recovery
        lines.append(
            f"  recover within {recovery.timeout * time_scale:g}s (target {recovery.target * time_scale:g}s)"
        )
    return lines


@dataclass(frozen=True)
class Endpoints:
    """Where the stack answers: the fault proxy's API and each service's health URL."""

    proxy_api: str
    health: dict[str, str]  # service -> its liveness URL


def check_stack(
    endpoints: Endpoints,
    topology: Topology,
    scenarios: Sequence[Scenario],
    *,
    services: bool = True,
    timeout_s: float = 5.0,
) -> list[str]:
    """Every problem found, each naming what is missing and where chaos.yaml or a scenario asks for it.
    `services=False` checks the fault proxy only (a run sweeps leftovers, such as a killed service,
    before it checks the services' health in its steady window)."""
    problems: list[str] = []
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        try:
            answer = client.get(f"{endpoints.proxy_api}/proxies")
            answer.raise_for_status()
            on_proxy = set(answer.json())
        except (httpx.HTTPError, ValueError) as exc:
            return [f"the fault proxy's API at {endpoints.proxy_api} does not answer: {_reason(exc)}"]
        where = f"the Toxiproxy at {endpoints.proxy_api}"
        problems += [
            f"chaos.yaml links.{link}: {where} has no proxy named {link!r}"
            for link in topology.links
            if link not in on_proxy
        ]
        for scenario in scenarios:
            for i, fault in enumerate(scenario.faults):
                if isinstance(fault, ToxiproxyFault) and fault.proxy not in on_proxy:
                    at = f"scenario {scenario.name} faults[{i}].proxy"
                    problems.append(f"{at}: {where} has no proxy named {fault.proxy!r}")
        for service, url in endpoints.health.items() if services else ():
            try:
                status = client.get(url).status_code
            except httpx.HTTPError as exc:
                problems.append(f"service {service}: {url} does not answer ({_reason(exc)})")
                continue
            if status >= 500:
                problems.append(f"service {service}: {url} answers {status}")
    return problems


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
