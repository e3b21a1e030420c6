"""The HTML report: a RunResult becomes template data, rendered with jinja2 into one self-contained file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from chaosgate.report import charts
from chaosgate.report.claims_table import CLAIM_HEADINGS, claims_view
from chaosgate.report.details import (
    INCONCLUSIVE,
    KIND_WORDS,
    amplification_line,
    control_line,
    data_line,
    fmt_label,
    fmt_rate,
    fmt_ratio,
    footing,
    inconclusive_line,
)
from chaosgate.report.view import (
    Component,
    SummaryRow,
    Tone,
    components,
    fmt_recovery,
    fmt_score,
    fmt_time,
    gate_reasons,
    harm_tone,
    load_level,
    run_reasons,
    summary_row,
    verdict,
)
from chaosgate.result import (
    WRITER_PHASES,
    FaultRecord,
    LoadRecord,
    RunResult,
    ScenarioResult,
    ScoreRecord,
)
from chaosgate.scoring import Severity


@dataclass(frozen=True)
class LedgerRow:
    """One fault as the ledger saw it: when each step happened and what proved it."""

    fault_id: str
    injector: str
    what: str
    applied: str
    verified: str
    removed: str
    evidence: str


@dataclass(frozen=True)
class BehaviourRow:
    feature: str
    expected: str
    observed: str
    match: bool | None  # None when the scenario expects nothing of the feature
    shares: str  # each outcome's share of the active window, largest first


@dataclass(frozen=True)
class CascadeRow:
    """One feature or component the harm reached beyond the fault, and the way it took."""

    name: str
    kind: str
    severity: str
    path: str
    tone: Tone  # bad for a full cascade (failed, down, not back), warn for slow or degraded


@dataclass(frozen=True)
class FeatureVerdict:
    """A feature's latency-bearing verdicts and the steady samples they stand on."""

    feature: str
    role: str  # must survive | broken
    containment: str  # healthy | unhealthy | inconclusive (machine saturated) | — (broken: may fail)
    tone: Tone
    cascade: str  # how harm reached it beyond the fault, if it did
    steady: str  # steady samples behind its baseline p95


@dataclass(frozen=True)
class Findings:
    """A scored scenario's rules v3 findings as the HTML page shows them."""

    cascade_label: str
    cascade: list[CascadeRow]
    restarted: str
    amplification: list[dict[str, str]]
    verdicts: list[FeatureVerdict]
    footing: str
    data_label: str
    data: str  # the label, then each writer's losses with the phases they happened in, or why n/a
    inconclusive: str
    control: str
    saturated: bool


@dataclass(frozen=True)
class ScenarioView:
    result: ScenarioResult
    row: SummaryRow
    timeline: Markup
    heatmap: Markup
    ledger: list[LedgerRow]
    behaviour: list[BehaviourRow]
    recovery: str
    samples: int
    load: dict[str, Any] | None  # Locust figures (load_view), when the scenario ran load
    components: list[Component]  # each dimension as weighed, n/a where not measured
    findings: Findings | None  # None without a score


def environment() -> jinja2.Environment:
    """Templates ship in the package; autoescape because details carry text from the system under test."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("chaosgate.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _what(fault: FaultRecord) -> str:
    keys = ("proxy", "store", "service", "path", "signal", "mode", "connections", "status")
    described = [f"{k}={fault.spec[k]}" for k in keys if k in fault.spec and fault.spec[k] is not None]
    toxic = fault.spec.get("toxic")
    if isinstance(toxic, dict):
        described.append(f"toxic={toxic.get('type')} {toxic.get('attributes') or ''}".strip())
    if fault.spec.get("down"):
        described.append("link down")
    return ", ".join(described)


def ledger_row(fault: FaultRecord) -> LedgerRow:
    when: dict[str, str] = {}
    evidence = []
    for event, t, detail in fault.events:
        when.setdefault(event, f"{t:.2f}s")
        if detail:
            evidence.append(f"{event}: {detail}")
    return LedgerRow(
        fault_id=fault.fault_id,
        injector=fault.injector,
        what=_what(fault),
        applied=when.get("applied", "—"),
        verified=when.get("verified", "not verified"),
        removed=when.get("removed", "not removed"),
        evidence="; ".join(evidence),
    )


def behaviour_rows(s: ScenarioResult) -> list[BehaviourRow]:
    if s.score is None:
        return []
    sc = s.score
    rows = []
    for feature in sorted({*sc.behaviour, *sc.expected}):
        expected, observed = sc.expected.get(feature), sc.behaviour.get(feature)
        rows.append(
            BehaviourRow(
                feature=feature,
                expected=expected.value if expected else "—",
                observed=observed.value if observed else "—",
                match=None if expected is None else expected is observed,
                shares=fmt_shares(sc.behaviour_shares.get(feature, {})),
            )
        )
    return rows


def fmt_shares(shares: dict[str, float]) -> str:
    """`hang 90% · served 10%`; — for a result recorded before shares were."""
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    return " · ".join(f"{outcome} {share:.0%}" for outcome, share in ranked if share > 0) or "—"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _load_what(load: LoadRecord) -> str:
    parts = [load.mode]
    if load.target_rps is not None:
        share = (
            f" ({load.fraction:.0%} of {load.capacity_rps:.0f} rps capacity)"
            if (load.fraction is not None and load.capacity_rps is not None)
            else ""
        )
        parts.append(f"target {load.target_rps:.0f} rps{share}")
    parts.append(f"{load.users} users")
    if load.max_in_flight is not None:
        parts.append(f"≤ {load.max_in_flight} in flight")
    if load.workers:
        parts.append(f"{load.workers} workers")
    else:
        parts.append(f"spawn rate {load.spawn_rate:g}/s")
    if load.harness_cpu_share is not None:
        parts.append(f"harness CPU {load.harness_cpu_share:.0%}")
    return ", ".join(parts)


def load_view(load: LoadRecord | None) -> dict[str, Any] | None:
    """Locust figures as rows: each phase, then each endpoint's p95 and failures by phase."""
    if load is None:
        return None
    phases = [
        {
            "phase": p.phase,
            "span": f"{p.start:.1f}–{p.end:.1f}s",
            "rps": f"{p.rps:.1f}",
            "failures": f"{p.failures} ({p.failure_rate:.1%})",
            "p95": _ms(p.p95_ms),
            "in_flight": "—" if p.in_flight is None else f"{p.in_flight:.1f}",
        }
        for p in load.phases
    ]
    names = sorted({*load.totals, *(e for p in load.phases for e in p.endpoints)})
    endpoints = [
        {
            "endpoint": name,
            "cells": [
                f"{_ms(e.p95_ms)} · {e.rps:.1f}/s · {e.failures} failed" if e else "—"
                for e in (p.endpoints.get(name) for p in load.phases)
            ],
        }
        for name in names
    ]
    return {
        "what": _load_what(load),
        "phases": phases,
        "phase_names": [p.phase for p in load.phases],
        "endpoints": endpoints,
        "message": load.message,
    }


_FULL = {s.value for s in Severity if s.full}


def _verdicts(s: ScenarioResult) -> list[FeatureVerdict]:
    assert s.score is not None
    sc = s.score
    reached = {p.name: f"{p.severity} ({KIND_WORDS[p.kind]})" for p in sc.cascade_paths}
    rows = []
    for feature in sorted({*sc.must_survive, *sc.broken, *sc.steady_samples}):
        if feature in sc.inconclusive:
            containment, tone = INCONCLUSIVE, Tone.VOID
        elif feature in sc.unhealthy_unaffected:
            containment, tone = "unhealthy", Tone.BAD
        elif feature in sc.must_survive:
            containment, tone = "healthy", Tone.GOOD
        else:
            containment, tone = "— (may fail: see fail behaviour)", Tone.NA
        count = sc.steady_samples.get(feature)
        rows.append(
            FeatureVerdict(
                feature=feature,
                role="broken" if feature in sc.broken else "must survive",
                containment=containment,
                tone=tone,
                cascade=reached.get(feature, ""),
                steady="—" if count is None else str(count),
            )
        )
    return rows


def _cascade_rows(sc: ScoreRecord) -> list[CascadeRow]:
    rows = [
        CascadeRow(
            name=p.name,
            kind=KIND_WORDS[p.kind],
            severity=p.severity,
            path=p.path,
            tone=Tone.BAD if p.severity in _FULL else Tone.WARN,
        )
        for p in sc.cascade_paths
    ]
    if not rows:  # a result scored before rules v3 names the components, not their paths
        tone = harm_tone(sc.cascade_label)
        path = "not recorded (scored before rules v3)"
        rows = [CascadeRow(c, "component", "reached", path, tone) for c in sc.cascaded]
    return rows


def findings(s: ScenarioResult) -> Findings | None:
    if s.score is None:
        return None
    sc = s.score
    return Findings(
        cascade_label=fmt_label(sc.cascade_label),
        cascade=_cascade_rows(sc),
        restarted=", ".join(s.restarted),
        amplification=[
            {
                "link": r.link,
                "role": r.role,
                "unit": r.unit,
                "steady": fmt_rate(r.steady),
                "fault": fmt_rate(r.fault),
                "ratio": fmt_ratio(r.ratio),
                "title": amplification_line(r),
            }
            for r in sc.amplification
        ],
        verdicts=_verdicts(s),
        footing=footing(sc),
        data_label=fmt_label(sc.data_label),
        data=data_line(s),
        inconclusive=inconclusive_line(s),
        control=control_line(s.control) if s.control is not None else "",
        saturated=s.control is not None and s.control.saturated,
    )


def scenario_view(result: RunResult, s: ScenarioResult) -> ScenarioView:
    return ScenarioView(
        result=s,
        row=summary_row(result, s),
        timeline=charts.timeline_svg(s),
        heatmap=charts.heatmap_svg(s),
        ledger=[ledger_row(f) for f in s.faults],
        behaviour=behaviour_rows(s),
        recovery=fmt_recovery(s),
        samples=len(s.samples),
        load=load_view(s.load),
        components=components(s.score) if s.score else [],
        findings=findings(s),
    )


def outcome_legend() -> list[tuple[str, str]]:
    return [(o.value, colour) for o, colour in charts.OUTCOME_COLOURS.items()]


def render_run(result: RunResult) -> str:
    """The run's report page."""
    views = [scenario_view(result, s) for s in result.scenarios]
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            run=result,
            verdict=verdict(result),
            overall=fmt_score(result.overall),
            started=fmt_time(result.started_at),
            finished=fmt_time(result.finished_at),
            run_reasons=run_reasons(result),
            reasons=gate_reasons(result),
            inconclusive=result.gate.inconclusive if result.gate else [],
            writer_phases=WRITER_PHASES,
            rows=[v.row for v in views],
            scenarios=views,
            load_level=load_level(result),
            claims=claims_view(result),
            claim_headings=CLAIM_HEADINGS,
            legend=outcome_legend(),
            no_data=charts.NO_DATA,
        )
    )
