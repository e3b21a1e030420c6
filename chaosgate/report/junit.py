"""junit.xml: one testsuite per run, one testcase per scenario, so CI shows which scenario broke the gate.
A scenario judged on a saturated machine that fails nothing else is `skipped`: neither passed nor failed."""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET

from chaosgate.report.claims_table import claims_view
from chaosgate.report.details import fmt_label, scenario_details
from chaosgate.report.view import (
    fmt_isolation,
    fmt_recovery,
    fmt_score,
    fmt_share,
    load_level,
    phase_load,
    run_reasons,
    scenario_inconclusive,
    scenario_reasons,
    verdict,
)
from chaosgate.result import RunResult, ScenarioResult, ScenarioStatus


def _seconds(value: float) -> str:
    # Surefire's schema allows at most three decimals.
    return f"{max(value, 0.0):.3f}"


def _testcase(result: RunResult, s: ScenarioResult) -> tuple[ET.Element, str]:
    case = ET.Element(
        "testcase", name=s.name, classname=f"chaosgate.{result.profile}", time=_seconds(s.duration_s)
    )
    readiness = fmt_score(s.score.readiness if s.score else None)
    if s.status is not ScenarioStatus.COMPLETED or s.score is None:
        ET.SubElement(case, "error", type=s.status, message=f"{s.status}: {s.message}").text = s.message
        kind = "error"
    elif reasons := scenario_reasons(result, s.name):
        text = "\n".join(reasons)
        ET.SubElement(case, "failure", type="below floor", message="; ".join(reasons)).text = text
        kind = "failure"
    elif void := scenario_inconclusive(result, s.name):
        message = "; ".join(void)  # the gate's words: "isolation inconclusive (machine saturated: …)"
        ET.SubElement(case, "skipped", message=message).text = message
        kind = "skipped"
    else:
        kind = "passed"
    ET.SubElement(case, "system-out").text = _system_out(s, readiness)
    return case, kind


def _system_out(s: ScenarioResult, readiness: str) -> str:
    """What CI shows under a test case: readiness, each dimension (n/a where not measured), the findings
    behind them (must survive, cascade paths, data loss per phase, the control), load, claim."""
    lines = [f"readiness {readiness} (target {s.target}: {s.title})"]
    if s.score is not None:
        sc = s.score
        lines.append(
            f"isolation {fmt_isolation(sc)}; cascades {fmt_label(sc.cascade_label)}; "
            f"data loss {fmt_label(sc.data_label)}; fail behaviour {fmt_share(sc.behaviour_match)}; "
            f"recovery {fmt_recovery(s)}"
        )
        for d in scenario_details(s):
            lines.append(f"{d.key}: {d.text}")
            lines += [f"  {item}" for item in d.items]
    if s.load is not None and s.load.phases:
        phases = "/".join(p.phase for p in s.load.phases)
        lines.append(f"load rps/in flight ({phases}): {phase_load(s.load)}")
    if s.claim is not None:
        claim = s.claim
        agreed = sum(claim.agreement.values())
        lines.append(f"claim {claim.name!r} ({claim.source}): {agreed} of {len(claim.agreement)} agree")
    return "\n".join(lines)


def _claims_properties(result: RunResult) -> list[tuple[str, str]]:
    claims = claims_view(result)
    if claims is None:
        return []
    return [
        ("claims_source", claims.source),
        ("claims_overall", claims.overall.text),
        ("claims_agreement", f"{claims.agreed} of {claims.compared} compared cells agree"),
    ]


def render_junit(result: RunResult) -> str:
    """The JUnit XML document (Surefire/Jenkins flavour, which GitLab, GitHub and Jenkins all read)."""
    cases = [_testcase(result, s) for s in result.scenarios]
    overall_reasons = run_reasons(result)
    suite = ET.Element(
        "testsuite",
        name=f"chaosgate readiness ({result.profile})",
        tests=str(len(cases) + (1 if overall_reasons else 0)),
        failures=str(sum(kind == "failure" for _, kind in cases) + (1 if overall_reasons else 0)),
        errors=str(sum(kind == "error" for _, kind in cases)),
        skipped=str(sum(kind == "skipped" for _, kind in cases)),
        time=_seconds((result.finished_at or result.started_at) - result.started_at),
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(result.started_at)),
        hostname=socket.gethostname(),
        id=result.run_id,
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", result.run_id),
        ("profile", result.profile),
        ("runtime", result.runtime),
        ("overall", fmt_score(result.overall)),
        ("verdict", verdict(result)),
        ("load", " · ".join(load_level(result)) or "—"),
        *[("inconclusive", r) for r in (result.gate.inconclusive if result.gate else [])],
        *_claims_properties(result),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for case, _ in cases:
        suite.append(case)
    if overall_reasons:
        # A gate reason that no scenario owns (the overall minimum) still has to fail the suite visibly.
        case = ET.SubElement(
            suite, "testcase", name="overall", classname=f"chaosgate.{result.profile}", time="0"
        )
        ET.SubElement(
            case, "failure", type="below floor", message="; ".join(overall_reasons)
        ).text = "\n".join(overall_reasons)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
