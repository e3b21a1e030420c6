"""junit.xml: one testsuite per run, one testcase per scenario, so CI shows which scenario broke the gate."""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET

from chaosgate.report.view import fmt_score, run_reasons, scenario_reasons, verdict
from chaosgate.result import RunResult, ScenarioResult


def _seconds(value: float) -> str:
    # Surefire's schema allows at most three decimals.
    return f"{max(value, 0.0):.3f}"


def _testcase(result: RunResult, s: ScenarioResult) -> tuple[ET.Element, str]:
    case = ET.Element(
        "testcase", name=s.name, classname=f"chaosgate.{result.profile}", time=_seconds(s.duration_s)
    )
    readiness = fmt_score(s.score.readiness if s.score else None)
    if s.status != "completed" or s.score is None:
        ET.SubElement(case, "error", type=s.status, message=f"{s.status}: {s.message}").text = s.message
        kind = "error"
    elif reasons := scenario_reasons(result, s.name):
        text = "\n".join(reasons)
        ET.SubElement(case, "failure", type="below floor", message="; ".join(reasons)).text = text
        kind = "failure"
    else:
        kind = "passed"
    ET.SubElement(case, "system-out").text = f"readiness {readiness} (target {s.target}: {s.title})"
    return case, kind


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
        skipped="0",
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
