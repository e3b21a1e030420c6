"""The machine's own figures beside the target's: the control probe's verdict, CPU, and amplification."""

from __future__ import annotations

from chaosgate.amplification import LinkSampler, amplification
from chaosgate.cpu import CpuMeter
from chaosgate.faults import SHORT
from chaosgate.lifecycle.state import ScenarioRun
from chaosgate.probes.control import CONTROL, ControlVerdict, judge
from chaosgate.result import ControlRecord, LinkRate, ScenarioResult
from chaosgate.samples import Phase

# A full machine (busy share) of which others took at least this much. Measured on 2 cores: a quiet
# machine's neighbours took 0.3-1.8 %; two busy loops took 17-24 % (the scheduler shares the cores among
# the stack's dozen processes and the loops), and slowed every probe by seconds.
BUSY = 0.9
NEIGHBOUR = 0.10
# A control p95 of at least this share of the probe timeout (400 ms of 2 s) can explain a hang.
HANG_NOISE = 0.2


def shortfalls(result: ScenarioResult) -> list[str]:
    """What the injectors said, at removal, their faults fell short of."""
    return [
        detail.removeprefix(SHORT)
        for record in result.faults
        for event, _, detail in record.events
        if event == "removed" and detail.startswith(SHORT)
    ]


def explains_hangs_ms(run: ScenarioRun, p95_ms: float | None) -> bool:
    """Whether the control was slow enough for a probe's hang to be the machine's: a feature
    crosses about five processes (gateway, service, stores), each delayed as the control was."""
    return p95_ms is not None and p95_ms / 1000 >= HANG_NOISE * run.settings.probe_timeout_s


def recovery_noise(run: ScenarioRun, since: float) -> ControlVerdict:
    """The control from rollback to the recovery timeout: was the machine still saturated when
    the probes were judged not back?"""
    return judge(run.log.samples(CONTROL, Phase.STEADY), run.log.since(CONTROL, since), window="recovery")


def _crowded(cpu: CpuMeter) -> list[str]:
    """Windows where the machine was full and a neighbour (outside this process and the stack it
    started) took a large share of it: then the steady window itself may be slow, and the control's
    fault-against-steady ratio cannot see the neighbour."""
    found = []
    for name in ("steady", "fault"):
        busy, _ = cpu.shares(f"{name}_start", f"{name}_end")
        other = cpu.neighbour(f"{name}_start", f"{name}_end")
        if busy is not None and other is not None and busy >= BUSY and other >= NEIGHBOUR:
            found.append(f"{name}: another process took {other:.0%} of the machine ({busy:.0%} busy)")
    return found


def control(run: ScenarioRun, recovery: ControlVerdict | None = None) -> ControlRecord:
    """The control's verdict on the fault window, with the machine's and the harness's CPU; a fault
    the harness fell short of delivering counts as saturation too (the harness is on the machine)."""
    log, cpu, short = run.log, run.cpu, shortfalls(run.result)
    lo, hi = run.judged_window() or (0.0, 0.0)
    verdict = judge(log.samples(CONTROL, Phase.STEADY), log.within(CONTROL, lo, hi))
    _, harness_steady = cpu.shares("steady_start", "steady_end")
    busy_fault, harness_fault = cpu.shares("fault_start", "fault_end")
    crowded = _crowded(cpu)
    saturated = verdict.saturated or bool(short) or bool(crowded)
    reason = "; ".join([verdict.reason] * verdict.saturated + [f"fault {s}" for s in short] + crowded)
    if saturated and busy_fault is not None:
        reason += f"; machine {busy_fault:.0%} busy, harness {harness_fault or 0:.0%}"
    if recovery is not None and recovery.saturated:
        reason += ("; " if reason else "") + recovery.reason
    return ControlRecord(
        steady_p95_ms=round(verdict.steady.p95_s * 1000, 2) if verdict.steady.count else None,
        fault_p95_ms=round(verdict.fault.p95_s * 1000, 2) if verdict.fault.count else None,
        ratio=round(verdict.ratio, 2) if verdict.ratio is not None else None,
        steady_count=verdict.steady.count,
        fault_count=verdict.fault.count,
        harness_cpu_steady=harness_steady,
        harness_cpu_fault=harness_fault,
        neighbour_cpu_steady=cpu.neighbour("steady_start", "steady_end"),
        neighbour_cpu_fault=cpu.neighbour("fault_start", "fault_end"),
        saturated=saturated,
        recovery_p95_ms=(
            round(recovery.fault.p95_s * 1000, 2) if recovery and recovery.fault.count else None
        ),
        recovery_saturated=bool(
            recovery
            and recovery.saturated
            and recovery.fault.count
            and explains_hangs_ms(run, recovery.fault.p95_s * 1000)
        ),
        reason=reason,
    )


def link_rates(run: ScenarioRun, links: LinkSampler) -> list[LinkRate]:
    """Traffic through the faulted link and its callers' links, fault against steady (shown,
    not scored); a proxy whose counters could not be read leaves a note, not an error."""
    marks = run.cpu.marks
    steady = marks.get("steady_start"), marks.get("steady_end")
    fault = run.result.active_window or run.result.fault_window
    if steady[0] is None or steady[1] is None or fault is None:
        return []
    if links.failures:
        run.note(f"amplification: {links.failures[0]}")
    target, topology = run.scenario.target, run.parts.topology
    return amplification(
        links.snapshots,
        steady=(steady[0].t, steady[1].t),
        fault=fault,
        faulted=target,
        callers=[c for c in topology.callers_of(target) if c in topology.links],
    )
