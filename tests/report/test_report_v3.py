"""Scoring rules v3 in every report format: what cascaded and by which path, amplification beside it, a
saturated machine read as inconclusive (never a pass or a failure), the must-survive count, data loss per
writer and phase with its counts, a blind read-back as "cannot tell", and the steady samples behind
latency verdicts. The JSON format is result.json itself: the lost and recovered ids live only there."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema
from html_cells import rows, table
from rich.console import Console

from chaosgate.gate import evaluate
from chaosgate.progress import summary_table
from chaosgate.report.charts import ordered_targets
from chaosgate.report.html import render_run
from chaosgate.report.junit import render_junit
from chaosgate.report.markdown import render_markdown
from chaosgate.result import RunResult, ScenarioResult

DATA = Path(__file__).parent / "data"
AUTH_LOGIN_PATH = "cassandra <- chat <- gateway -> auth.login (shared: gateway)"
CHAT_LOSS = "chat.messages lost 12 of 40 acknowledged (fault: 12/18)"
SATURATED = "control p95 4.1 ms steady vs 61.0 ms during the fault (×14.9)"


def scenario(result: RunResult, name: str) -> ScenarioResult:
    return next(s for s in result.scenarios if s.name == name)


def section(page: str, name: str) -> str:
    """One scenario's part of the HTML page."""
    start = page.index(f'id="s-{name}"')
    end = page.find('<section class="scenario"', start)
    return page[start : end if end > 0 else len(page)]


def junit_cases(result: RunResult) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.fromstring(render_junit(result)).iter("testcase")}


def terminal(result: RunResult) -> str:
    """What `chaosgate run` prints at the end, with lines the table's width wrapped joined again."""
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(summary_table(result))
    return " ".join(console.export_text().split())


def md_rows(md: str) -> dict[str, str]:
    return {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}


def test_every_format_names_what_cascaded_and_by_which_path(v3: RunResult) -> None:
    page = render_run(v3)
    md = render_markdown(v3)
    out = junit_cases(v3)["cassandra-slow"].findtext("system-out") or ""
    text = terminal(v3)

    cascade = section(page, "cassandra-slow")
    assert "<code>cassandra &lt;- chat &lt;- gateway -&gt; auth.login (shared: gateway)</code>" in cascade
    assert table(page, "summary")["cassandra-slow"][3] == (
        "tone-bad",
        "YES auth.login, auth.refresh, chat.history",
    )
    line = f"auth.login unhealthy (collateral feature): {AUTH_LOGIN_PATH}"
    assert f"  - `{line}`" in md  # a path in code, so Markdown reads its arrows as text
    assert line in out and line in text
    # Persistence: back only after the harness restarted chat, said with the recovery too.
    persistence = "chat.history restarted (persistence)"
    assert persistence in md and persistence in out and persistence in text
    assert "restarted by the harness because recovery failed: chat" in cascade
    assert "| never (restarted chat) |" in md_rows(md)["cassandra-slow"]
    # The gate's reason names what cascaded, not only the label.
    assert "cassandra-slow: cascade YES (floor NO): auth.login, auth.refresh, chat.history" in md


def test_amplification_is_shown_beside_the_cascade_and_not_scored(v3: RunResult) -> None:
    page = render_run(v3)
    cascade = section(page, "cassandra-slow")
    md = render_markdown(v3)

    beside = cascade[cascade.index('class="amplification"') :]
    assert "Amplification <span" in beside and "(shown, not scored)" in beside
    faulted = rows(cascade, "amplification-cassandra-slow")[0]
    assert [text for _, text in faulted] == ["cassandra (faulted)", "connections/s", "3.1", "24.8", "×8.0"]
    assert "cassandra (faulted) connections/s: 3.1 steady → 24.8 during the fault (×8.0)" in md
    assert "push (caller) connections/s: 2.2 steady → — during the fault" in md  # no rate: no ratio
    assert "amplification" not in scenario(v3, "cassandra-slow").score.components  # type: ignore[union-attr]


def test_a_saturated_machine_reads_inconclusive_in_every_format(tmp_path: Path, v3: RunResult) -> None:
    page = render_run(v3)
    md = render_markdown(v3)
    flood = junit_cases(v3)["websocket-flood"]
    text = terminal(v3)

    row = table(page, "summary")["websocket-flood"]
    assert row[2] == ("tone-void", "inconclusive (machine saturated)")  # isolation: neither green nor red
    assert row[3] == ("tone-void", "inconclusive (machine saturated)")  # cascade
    assert md_rows(md)["websocket-flood"].startswith(
        "| websocket-flood | 7 / 2 | inconclusive (machine saturated) | inconclusive (machine saturated) |"
    )
    # With the control's figures: its p95 steady against the fault, and the harness's CPU share.
    for shown in (section(page, "websocket-flood"), md, flood.findtext("system-out") or "", text):
        assert SATURATED in shown
        assert "harness CPU 20% steady vs 48% during the fault" in shown
    assert 'id="inconclusive"' in page
    # The control's own latency is drawn with the features' (dashed, last), so a reader sees it slow too.
    assert 'stroke-dasharray="4 3"><title>control:machine</title>' in section(page, "websocket-flood")
    assert ordered_targets(scenario(v3, "websocket-flood").samples)[-1] == "control:machine"
    # JUnit: neither a pass nor a failure — skipped, with the gate's words.
    assert flood.find("failure") is None and flood.find("error") is None
    skipped = flood.find("skipped")
    assert skipped is not None and "isolation, cascade inconclusive (machine saturated" in skipped.get(
        "message", ""
    )
    suite = ET.fromstring(render_junit(v3))
    assert suite.get("skipped") == "1"
    # Components: inconclusive, not weighed; never shown as n/a (not measured) nor as a score.
    assert 'isolation <span class="tone-void">inconclusive (machine saturated)</span> (not weighed)' in page
    assert "│ inconclusive" in text
    isolation = [str(c) for c in summary_table(v3).columns[2].cells]
    cells = dict(zip([s.name for s in v3.scenarios], isolation, strict=True))
    assert cells["websocket-flood"] == "[magenta]inconclusive (machine saturated)[/]"


def test_a_gate_that_could_only_stand_on_a_saturated_machine_says_inconclusive(v3: RunResult) -> None:
    v3.gate = evaluate(v3.scenarios, v3.overall, min_score=None, floors=[])

    page = render_run(v3)
    suite = ET.fromstring(render_junit(v3))
    md = render_markdown(v3)

    assert 'class="verdict INCONCLUSIVE" id="verdict">gate: INCONCLUSIVE' in page
    assert "**gate: INCONCLUSIVE** ⚠️" in md
    assert "Inconclusive (machine saturated), neither passed nor failed:" in md
    props = {p.get("name"): p.get("value") or "" for p in suite.iter("property")}
    assert props["verdict"] == "INCONCLUSIVE"
    assert props["inconclusive"].startswith("websocket-flood: isolation, cascade inconclusive")
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"


def test_data_loss_carries_its_counts_per_writer_and_phase(tmp_path: Path, v3: RunResult) -> None:
    md = render_markdown(v3)
    cases = junit_cases(v3)
    page = render_run(v3)

    assert f"- **data loss**: YES: {CHAT_LOSS}" in md  # not just "data_loss YES"
    assert "chat.messages — attempted/acknowledged/lost/recovered: before 15/15/0/0 · fault 20/18/12/1" in md
    assert "| YES: chat.messages 12/40 lost |" in md_rows(md)["cassandra-slow"]
    failure = cases["cassandra-slow"].find("failure")
    assert failure is not None
    assert f"data_loss YES (floor NO): {CHAT_LOSS}" in failure.get("message", "")
    push = cases["push-outage"].find("failure")
    assert push is not None
    assert push.get("message") == (
        "data_loss YES (floor NO): push.notifications lost 6 of 40 acknowledged (fault: 6/12)"
    )
    # HTML: each writer, then one row per phase: the fault's is where the messages were lost.
    writers = [[text for _, text in row] for row in rows(page, "writers-cassandra-slow")]
    assert writers[:4] == [
        ["chat.messages", "42", "40", "12", "1", "0"],
        ["before", "15", "15", "0", "0", ""],
        ["fault", "20", "18", "12", "1", ""],
        ["recovery", "7", "7", "0", "0", ""],
    ]
    assert writers[4][0] == "sessions (ephemeral)"
    assert f"YES: {CHAT_LOSS}" in section(page, "cassandra-slow")
    # The lost and recovered ids: in result.json, in no other report.
    dumped = v3.model_dump_json()
    assert '"lost_ids":["msg-0016"' in dumped and '"recovered_ids":["msg-0031"]' in dumped
    for report in (md, page, render_junit(v3), terminal(v3)):
        assert "msg-0016" not in report and "msg-0031" not in report
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(v3), encoding="utf-8")
    xmlschema.XMLSchema(DATA / "junit-10.xsd").validate(path)


def test_a_read_back_that_cannot_see_is_cannot_tell_not_a_loss(v3: RunResult) -> None:
    md = render_markdown(v3)
    page = render_run(v3)
    out = junit_cases(v3)["service-crash"].findtext("system-out") or ""
    why = "read-back $.message[*].id matched nothing in GET /v1/chat/history (the answer has: messages, next)"

    assert "| n/a: cannot tell chat.messages |" in md_rows(md)["service-crash"]
    assert table(page, "summary")["service-crash"][4] == ("tone-na", "n/a cannot tell chat.messages")
    blind = rows(page, "writers-service-crash")[1]
    assert blind == [("tone-void", f"cannot tell, nothing counted lost: {why}")]
    assert f"chat.messages — cannot tell, nothing counted lost ({why})" in out
    assert "attempted/acknowledged: before 14/14 · fault 16/0 · recovery 9/9" in md
    assert junit_cases(v3)["service-crash"].find("failure") is None


def test_the_must_survive_count_and_the_footing_of_latency_verdicts(v3: RunResult) -> None:
    page = render_run(v3)
    md = render_markdown(v3)
    text = terminal(v3)

    summary = table(page, "summary")
    assert summary["cassandra-slow"][1] == ("count", "6 / 3")
    assert summary["push-outage"][1] == ("count", "9 / 1")
    assert "- **features**: 6 must survive, 3 broken (hard-depend on cassandra): chat.history" in md
    assert "features: 9 must survive, 1 broken (hard-depend on push-provider): push.send" in text
    # Each latency verdict beside the steady samples it stands on: chat.ws had only 14.
    # columns: feature, role, containment, cascade, steady samples
    verdicts = table(page, "verdicts-cassandra-slow")
    assert verdicts["chat.ws"] == [
        ("", "chat.ws"),
        ("", "must survive"),
        ("tone-good", "healthy"),
        ("", "—"),
        ("num", "14"),
    ]
    assert verdicts["auth.login"][2:4] == [("tone-bad", "unhealthy"), ("", "unhealthy (collateral feature)")]
    assert verdicts["chat.history"][1:4] == [
        ("", "broken"),
        ("tone-na", "— (may fail: see fail behaviour)"),
        ("", "restarted (persistence)"),
    ]
    footing = "14–40 steady samples per feature (fewest: chat.ws 14)"
    assert f"footing: {footing}" in md and f"footing: {footing}" in text
    assert footing in section(page, "cassandra-slow")
