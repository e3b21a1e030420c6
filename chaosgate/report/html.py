"""The HTML report: a RunResult becomes template data, rendered with jinja2 into one self-contained file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from chaosgate.report import charts
from chaosgate.report.view import (
    CLAIM_HEADINGS,
    Component,
    SummaryRow,
    claims_view,
    components,
    fmt_recovery,
    fmt_score,
    fmt_time,
    load_level,
    run_reasons,
    summary_row,
    verdict,
)
from chaosgate.result import FaultRecord, LoadRecord, RunResult, ScenarioResult


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
            reasons=result.gate.reasons if result.gate else [],
            rows=[v.row for v in views],
            scenarios=views,
            load_level=load_level(result),
            claims=claims_view(result),
            claim_headings=CLAIM_HEADINGS,
            legend=outcome_legend(),
            no_data=charts.NO_DATA,
        )
    )
