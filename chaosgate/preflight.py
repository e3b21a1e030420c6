"""Before anything is touched: the plan of a run, and whether the running stack has all it names.

`chaosgate run --dry-run` prints both and stops; every run checks the stack the same way before its
first sweep or fault, so a link with no proxy on the Toxiproxy is named before the first scenario
instead of failing a removal mid-run. The dry run also reads each writer's read-back once, so a
read-back that cannot see (a typo in its path) is named before a run would report it. Only reads:
GET requests, nothing on the Toxiproxy, in the stack or in the fault ledger changes here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from chaosgate.errors import ProbeError, ReadBackBlind
from chaosgate.faults import describe_fault
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.declared import DeclaredWriter, run_setup
from chaosgate.probes.steps import BUILTINS, RequestStep
from chaosgate.probes.template import WRITE_ID, TemplateError
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
        survive = sorted(set(topology.features) - set(broken))
        probed = sorted(topology.features)
        lines.append(f"  probes  {len(probed)} feature(s): {', '.join(probed) or 'none declared'}")
        if broken:
            lines.append(f"  breaks  {', '.join(sorted(broken))} (hard dependents of {scenario.target})")
        lines.append(f"  survive {len(survive)} of {len(probed)}: {', '.join(survive) or 'none'}")
        for feature, outcome in scenario.expect.items():
            lines.append(f"  expect  {feature}: {outcome.value}")
        if scenario.workload.writers:
            writers = ", ".join(str(w) for w in scenario.workload.writers)
            lines.append(f"  writers {writers} at {scenario.workload.rate:g}/s each")
        recovery = scenario.recovery
        lines.append(f"  recover within {recovery.timeout_at(time_scale):g}s (target {recovery.target:g}s)")
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


READS = frozenset({"GET", "HEAD"})  # what a dry run may send


def read_back_lines(
    topology: Topology, scenarios: Sequence[Scenario], gateway_url: str, *, timeout_s: float = 5.0
) -> list[str]:
    """`read_backs`, for a caller outside an event loop (the CLI)."""
    return asyncio.run(read_backs(topology, scenarios, gateway_url, timeout_s=timeout_s))


async def read_backs(
    topology: Topology, scenarios: Sequence[Scenario], gateway_url: str, *, timeout_s: float = 5.0
) -> list[str]:
    """For each writer the scenarios use, what its read-back finds now, read once: `N ids`,
    `cannot tell: why` (it answers but cannot see), or the error. Declared setup steps run first
    when they only read; setup that writes (or a plugin's) is not run, and a read-back that needs
    what it would capture is not read: the line says so. GET and HEAD only."""
    names = list(dict.fromkeys(w for scenario in scenarios for w in scenario.workload.writers))
    if not names:
        return []
    lines = []
    async with httpx.AsyncClient(base_url=gateway_url, timeout=timeout_s, trust_env=False) as http:
        ctx = ProbeContext(gateway_url, http, timeout_s=timeout_s)
        setup = await _read_only_setup(ctx, topology.probes.setup)
        if setup:
            lines.append(f"setup: {setup}")
        for name in names:
            lines.append(f"{name}: {await _finding(ctx, topology, name)}")
    return lines


async def _read_only_setup(ctx: ProbeContext, steps: Sequence[RequestStep]) -> str:
    """Runs probes.setup when every step only reads; otherwise says why it did not ("" when it ran)."""
    writes = [f"{step.method} {step.path}" for step in steps if step.method not in READS]
    if writes:
        return f"probes.setup not run: it writes ({', '.join(writes)}) and a dry run never writes"
    try:
        await run_setup(ctx, steps)
    except (ProbeError, httpx.HTTPError) as exc:
        return f"probes.setup failed: {_reason(exc)}"
    return ""


async def _finding(ctx: ProbeContext, topology: Topology, name: str) -> str:
    spec = topology.writers.get(name)
    if spec is None or spec.write is None or spec.read_back is None:
        return "the probe plugin's writer: its read-back needs the plugin's setup, which may write: not read"
    back = spec.read_back
    if back.method not in READS:
        return f"not read: its read-back is a {back.method}, and a dry run never writes"
    missing = sorted(back.variables() - BUILTINS - {WRITE_ID} - set(ctx.vars))
    if missing:
        needs = ", ".join(f"${{{n}}}" for n in missing)
        return f"not read: it needs {needs}, which probes.setup captures"
    writer = DeclaredWriter(name, spec.write, back, ephemeral=spec.ephemeral)
    try:
        found = await writer.read_back(ctx)
    except ReadBackBlind as exc:
        return f"cannot tell: {str(exc).removeprefix(f'writer {name}: ')}"
    except (ProbeError, TemplateError, httpx.HTTPError) as exc:
        return f"error: {_reason(exc)}"
    if back.per_item:
        return f"reads one id at a time ({back.method} {back.path}): an id never written reads as missing"
    if not found:
        return f"0 ids: the listing is empty, so {back.ids} cannot be checked until it lists something"
    return f"{len(found)} id{'s' if len(found) > 1 else ''} ({back.ids} in {back.method} {back.path})"


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
