"""summary.md: the readiness table in Markdown, for a CI job summary, then each scenario's findings."""

from __future__ import annotations

from chaosgate.report.claims_table import CLAIM_HEADINGS, ClaimsView, claims_view
from chaosgate.report.details import scenario_details
from chaosgate.report.view import (
    fmt_score,
    gate_reasons,
    load_level,
    summary_rows,
    verdict,
)
from chaosgate.result import RunResult, ScenarioResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _claims(claims: ClaimsView) -> list[str]:
    lines = [
        f"### Claims beside measurements ({_cell(claims.source)})",
        "",
        "Each cell: the report's claim, what chaosgate measured, and whether they agree "
        f"(readiness within ±{claims.tolerance:g} points).",
        "",
        "| scenario | " + " | ".join(CLAIM_HEADINGS.values()) + " |",
        "| --- |" + " --- |" * len(CLAIM_HEADINGS),
    ]
    for row in claims.rows:
        cells = [f"{row.scenario} ({row.name})", *(row.cells[d].text for d in CLAIM_HEADINGS)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += [
        "",
        f"**Overall: {claims.overall.text}** ({_cell(claims.overall_note)}). "
        f"{claims.agreed} of {claims.compared} compared cells agree.",
        "",
    ]
    return lines


def _scenario(s: ScenarioResult) -> list[str]:
    """One scenario's findings as a list: must survive, containment, cascade paths, data loss per phase."""
    details = scenario_details(s)
    if not details:
        return []
    assert s.score is not None
    lines = [f"#### {s.name} — {s.score.readiness:.1f}% (target {s.target})", ""]
    for d in details:
        lines.append(f"- **{d.key}**: {_cell(d.text)}")
        lines += [f"  - `{item}`" if "<-" in item or "->" in item else f"  - {item}" for item in d.items]
    return [*lines, ""]


def render_markdown(result: RunResult) -> str:
    mark = {"PASS": "✅", "FAIL": "❌"}.get(verdict(result), "⚠️")
    overall = fmt_score(result.overall) + ("%" if result.overall is not None else "")
    lines = [
        f"## chaosgate readiness — run `{result.run_id}` (profile {result.profile})",
        "",
        f"**Overall readiness: {overall}** · **gate: {verdict(result)}** {mark}",
        "",
    ]
    if level := load_level(result):
        lines += ["Load: " + _cell(" · ".join(level)), ""]
    if reasons := gate_reasons(result):
        lines += [f"- {_cell(r)}" for r in reasons] + [""]
    if result.gate and result.gate.inconclusive:
        lines += ["Inconclusive (machine saturated), neither passed nor failed:", ""]
        lines += [f"- {_cell(r)}" for r in result.gate.inconclusive] + [""]
    lines += [
        "| scenario | must survive / broken | isolation | cascades | data loss | fail behaviour | recovery "
        "| readiness | load rps/in flight |",
        "| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in summary_rows(result):
        behaviour = f"{r.behaviour_match} · {r.behaviour}" if r.ok else r.behaviour
        cells = [r.name, r.survive, r.isolation, r.cascades, r.data_loss, behaviour, r.recovery, r.readiness]
        lines.append("| " + " | ".join(_cell(c) for c in [*cells, r.load]) + " |")
    lines += [
        "",
        "n/a: not measured, left out of the weights; inconclusive (machine saturated): judged while the "
        "control slowed as much as the features, neither a pass nor a failure. Fail behaviour: the share "
        "of the fault scored as failing well (a hang lowest), then each broken feature's dominant outcome. "
        "Load: achieved rps/in flight per phase (baseline → fault → recovery).",
        "",
    ]
    if scenarios := [line for s in result.scenarios for line in _scenario(s)]:
        lines += ["### Scenarios", "", *scenarios]
    if (claims := claims_view(result)) is not None:
        lines += _claims(claims)
    lines += ["Backends: " + "; ".join(f"{role}: {what}" for role, what in result.backends.items()), ""]
    return "\n".join(lines)
