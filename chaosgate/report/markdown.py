"""summary.md: the readiness table in Markdown, for a CI job summary."""

from __future__ import annotations

from chaosgate.report.view import fmt_score, summary_rows, verdict
from chaosgate.result import RunResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult) -> str:
    mark = {"PASS": "✅", "FAIL": "❌"}.get(verdict(result), "⚠️")
    overall = fmt_score(result.overall) + ("%" if result.overall is not None else "")
    lines = [
        f"## chaosgate readiness — run `{result.run_id}` (profile {result.profile})",
        "",
        f"**Overall readiness: {overall}** · **gate: {verdict(result)}** {mark}",
        "",
    ]
    if result.gate and result.gate.reasons:
        lines += [f"- {_cell(r)}" for r in result.gate.reasons] + [""]
    lines += [
        "| scenario | isolation | cascades | data loss | fail behaviour | recovery | readiness |",
        "| --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for r in summary_rows(result):
        cells = [r.name, r.isolation, r.cascades, r.data_loss, r.behaviour, r.recovery, r.readiness]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", "Backends: " + "; ".join(f"{role}: {what}" for role, what in result.backends.items()), ""]
    return "\n".join(lines)
