"""The score phase: the observations gathered for the scorer, and the score as result.json keeps it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaosgate.amplification import LinkSampler
from chaosgate.lifecycle.control import control, explains_hangs_ms, link_rates, shortfalls
from chaosgate.lifecycle.state import HEALTH, ScenarioRun
from chaosgate.lifecycle.writers import writer_record
from chaosgate.result import CascadeKind, CascadePath, ScoreRecord
from chaosgate.samples import FeatureStats, Phase, ProbeOutcome, SampleRecord
from chaosgate.scoring import FailBehaviour, Health, Observations, ScenarioScore, score
from chaosgate.topology import Topology
from chaosgate.workload import WriterCheck


@dataclass(frozen=True)
class Score:
    """The control's verdict, the writers' counts and the score, after the probes stopped."""

    links: LinkSampler  # traffic through the links: amplification, shown beside the score
    phase: Phase = Phase.SCORE

    async def __call__(self, run: ScenarioRun) -> None:
        result = run.result
        result.control = control(run, run.noise)
        result.writers = {name: writer_record(check) for name, check in run.checks.items()}
        run.enter(self.phase)
        result.score = score_scenario(run, run.checks, run.not_back)
        result.score.amplification = link_rates(run, self.links)


def score_scenario(run: ScenarioRun, checks: Mapping[str, WriterCheck], not_back: list[str]) -> ScoreRecord:
    obs = observations(run, checks, not_back)
    return score_record(run, obs, score(obs, run.parts.weights))


def observations(run: ScenarioRun, checks: Mapping[str, WriterCheck], not_back: list[str]) -> Observations:
    """What the run measured, as the scorer takes it: samples of the judged window against the
    steady ones, components' health, writers' counts, the control's verdicts."""
    parts, log, result, scenario = run.parts, run.log, run.result, run.scenario
    topology, features, target = parts.topology, parts.features, scenario.target
    lo, hi = run.judged_window() or (0.0, 0.0)
    health = {
        name: _health(log.within(HEALTH + name, lo, hi), run.latency_limit(HEALTH + name))
        for name in parts.health_urls
    }
    apart = frozenset(topology.features_apart_from(target))
    for component in (t.removeprefix(HEALTH) for t in not_back if t.startswith(HEALTH)):
        if component != target:
            health[component] = Health.DOWN
    control = result.control
    return Observations(
        target=target,
        broken=frozenset(result.affected),
        soft=frozenset(topology.features_soft_on(target)),
        baseline={f: log.samples(f, Phase.STEADY) for f in features},
        during={f: log.within(f, lo, hi) for f in features},
        health=health,
        writers={n: c.counts for n, c in checks.items()},
        writer_covers={n: frozenset(w.covers) for n, w in topology.writers.items()},
        expect=scenario.expect,
        recovery_s=result.recovery_s,
        recovery_target_s=scenario.recovery.target,
        recovery_timeout_s=run.recovery_timeout(),
        fast_fail_s=topology.scoring.fast_fail,
        apart=apart,
        on_path=frozenset({target, *topology.callers_of(target)}),
        routes=_routes(topology, target, [*apart, *health]),
        not_recovered=tuple(t for t in not_back if not t.startswith(HEALTH)),
        restarted=tuple(result.restarted),
        saturated=control is not None and control.saturated,
        recovery_saturated=control is not None and control.recovery_saturated,
        hangs_void=control is not None and control.saturated and explains_hangs_ms(run, control.fault_p95_ms),
        short=bool(shortfalls(result)),
        fault_writes={n: c.phases["fault"].attempted for n, c in checks.items() if "fault" in c.phases},
        cannot_tell={n: c.cannot_tell for n, c in checks.items() if c.cannot_tell},
    )


def score_record(run: ScenarioRun, obs: Observations, scored: ScenarioScore) -> ScoreRecord:
    """The score as result.json keeps it."""
    return ScoreRecord(
        readiness=scored.readiness,
        isolation=scored.isolation,
        isolation_label=scored.isolation_label,
        unhealthy_unaffected=list(scored.unhealthy_unaffected),
        broken=list(scored.broken),
        must_survive=list(scored.must_survive),
        cascade_label=scored.cascade_label,
        cascaded=list(scored.cascaded),
        cascaded_share=scored.cascaded_share,
        data=scored.data,
        data_label=scored.data_label,
        behaviour=dict(scored.behaviour),
        behaviour_shares={f: dict(v) for f, v in scored.behaviour_shares.items()},
        expected={f: FailBehaviour.expected(o) for f, o in run.scenario.expect.items()},
        behaviour_match=scored.behaviour_match,
        recovery=scored.recovery,
        components=dict(scored.components),
        weights=dict(scored.weights),
        cascade_paths=[
            CascadePath(kind=CascadeKind(h.kind), name=h.name, severity=h.severity.value, path=h.path)
            for h in scored.cascade_paths
        ],
        not_recovered=list(obs.not_recovered),
        inconclusive=list(scored.inconclusive),
        data_reason=scored.data_reason,
        steady_samples={f: len(obs.baseline[f]) for f in run.parts.features},
    )


def _routes(topology: Topology, target: str, names: list[str]) -> dict[str, str]:
    """How harm from `target` could reach each feature or component: through the nearest component
    it shares with the callers of `target` (a shared pool, process or queue), else the machine."""
    callers = topology.callers_of(target)
    routes = {}
    for name in names:
        reach = (
            topology.feature_dependencies(name) | topology.feature_soft_dependencies(name)
            if name in topology.features
            else {name}
        )
        shared = [c for c in callers if c in reach]
        if shared:
            chain = topology.caller_chain(target, {shared[0]})
            routes[name] = " <- ".join(chain) + f" -> {name} (shared: {shared[0]})"
        else:
            routes[name] = f"{target} -> {name} (no shared component: the machine's CPU, memory or sockets)"
    return routes


def _health(during: list[SampleRecord], limit_s: float) -> Health:
    if any(s.outcome in (ProbeOutcome.HANG, ProbeOutcome.ERROR) for s in during):
        return Health.DOWN
    if during and (FeatureStats.of(during).p95_s > limit_s or any(not s.outcome.ok for s in during)):
        return Health.DEGRADED
    return Health.OK
