"""Scoring rules v2 in every report: n/a is shown as n/a (never 100%), each label reads the right way
(data loss YES is bad), the load level is stated, and the seed claims sit beside the measurements."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema
from html_cells import table
from rich.console import Console

from chaosgate.progress import summary_table
from chaosgate.pytest_scenarios import breakdown
from chaosgate.report.compare import compare_runs, comparison_table, render_compare
from chaosgate.report.html import render_run
from chaosgate.report.junit import render_junit
from chaosgate.report.markdown import render_markdown
from chaosgate.report.view import Tone, harm_tone, isolation_tone
from chaosgate.result import RunResult
from chaosgate.scoring import Label

DATA = Path(__file__).parent / "data"


def test_labels_read_the_right_way() -> None:
    assert isolation_tone(Label.YES) is Tone.GOOD and isolation_tone(Label.NO) is Tone.BAD
    assert harm_tone(Label.YES) is Tone.BAD  # a cascade, or data lost
    assert harm_tone(Label.PARTIAL) is Tone.WARN
    assert harm_tone(Label.NO) is Tone.GOOD
    assert harm_tone(Label.NA) is Tone.NA and isolation_tone(Label.NA) is Tone.NA


def test_html_summary_shows_na_and_colours_each_label_by_what_it_means(v2: RunResult) -> None:
    rows = table(render_run(v2), "summary")

    # columns: scenario, must survive / broken, isolation, cascades, data loss, fail behaviour, recovery,
    # readiness, load
    cockroach = rows["cockroach-pool-exhaustion"]
    assert cockroach[1] == ("count", "0 / 3")  # nothing must survive a cockroach fault
    assert cockroach[2] == ("tone-na", "n/a")  # so no must-survive feature was probed: not 100%
    crash = rows["service-crash"]
    assert crash[4] == ("tone-na", "n/a")  # no ledger writer covered a broken feature
    cassandra = rows["cassandra-slow"]
    assert cassandra[4] == ("tone-bad", "YES")  # data was lost: bad, not green
    assert cassandra[3] == ("tone-bad", "YES chat, gateway")  # it cascaded, and to what
    assert cassandra[2] == ("tone-warn", "PARTIAL 75%")
    assert cassandra[1] == ("count", "6 / 3")
    assert rows["redis-down"][4] == ("tone-warn", "PARTIAL")
    assert rows["redis-flaky"][2] == ("tone-good", "YES 100%")
    assert rows["redis-flaky"][4] == ("tone-good", "NO")
    assert rows["push-outage"][4] == ("tone-bad", "YES push.notifications 6/40 lost")  # with the count
    assert cassandra[5][1].startswith(
        "14% · chat.send UNCLEAN ✗"
    )  # the scored share, then the dominant outcomes
    assert cassandra[8][1] == "120/6 → 61/64 → 119/6"  # achieved rps / in flight by phase


def test_html_components_leave_na_out_of_the_weights(v2: RunResult) -> None:
    page = render_run(v2)
    section = page[page.index('id="s-service-crash"') : page.index('id="s-websocket-flood"')]

    assert 'data <span class="tone-na">n/a</span> (not weighed)' in section
    assert 'isolation <span class="tone-good">1.00</span> (×0.25)' in section
    assert "<b>3 broken</b> (hard-depend on chat): chat.history, chat.send, chat.ws" in section
    survive = "auth.login, auth.me, auth.refresh, auth.register, chat.poll, presence"
    assert f"<b>6 must survive</b>: {survive}" in section
    assert "rejected 90% · error 10%" in section  # chat.history's time shares


def test_html_states_the_load_level_and_each_phases_in_flight(v2: RunResult) -> None:
    page = render_run(v2)

    level = page[page.index('id="load-level"') :].split("</div>")[0]
    assert "capacity 240 rps (reused, measured" in level
    assert "load 120 rps (50% of capacity), open-loop, 64 users, ≤ 64 in flight" in level
    assert "harness CPU 17% of the machine" in level
    assert '<th class="num">in flight</th>' in page
    assert "open-loop, target 120 rps (50% of 240 rps capacity), 64 users, ≤ 64 in flight" in page


def test_html_puts_the_claims_beside_the_measurements(v2: RunResult) -> None:
    page = render_run(v2)
    claims = table(page, "claims")

    assert list(claims) == [
        "cassandra-slow",
        "cockroach-pool-exhaustion",
        "redis-down",
        "service-crash",
        "websocket-flood",
        "push-outage",
    ]
    # columns: scenario, isolation, cascades, data loss, fail behaviour, readiness
    assert claims["cassandra-slow"][0][1] == "cassandra-slow Cassandra Slow"
    assert claims["cassandra-slow"][3] == ("claim tone-bad", "claim PARTIAL, measured YES: disagrees")
    assert claims["cassandra-slow"][2] == ("claim tone-good", "claim YES, measured YES: agrees")
    assert claims["cockroach-pool-exhaustion"][1] == ("claim tone-na", "claim NO, measured n/a: not measured")
    assert claims["redis-down"][4] == ("claim tone-bad", "claim FAIL-OPEN, measured FAIL-CLOSED: disagrees")
    assert claims["service-crash"][5] == ("claim tone-bad", "claim 55%, measured 91.0%: disagrees")
    assert claims["websocket-flood"][5] == ("claim tone-good", "claim 70%, measured 76.0%: agrees")
    overall = page[page.index('id="claims-overall"') :].split("</p>")[0]
    assert "Overall: claim 60.0%, measured 61.2%: agrees" in overall
    assert "the run&#39;s own overall (weighted, all 8 scenarios) is 66.8%" in overall
    assert "15 of 28 compared cells agree" in overall
    assert (
        "From Chaos and Failure Readiness Analysis Report (chaos-readiness-analysis.md, 2026-01-17)" in page
    )


def test_a_run_without_claims_has_no_claims_table(baseline: RunResult) -> None:
    page = render_run(baseline)

    assert 'id="claims"' not in page and "Claims beside measurements" not in page


def test_junit_says_na_and_carries_load_and_claims(tmp_path: Path, v2: RunResult) -> None:
    xml = render_junit(v2)
    suite = ET.fromstring(xml)
    out = {c.get("name"): c.findtext("system-out") or "" for c in suite.iter("testcase")}
    props = {p.get("name"): p.get("value") or "" for p in suite.iter("property")}

    assert "isolation n/a;" in out["cockroach-pool-exhaustion"]
    assert "data loss n/a;" in out["service-crash"]
    assert "100%" not in out["cockroach-pool-exhaustion"].split("\n")[1]
    assert (
        "load rps/in flight (baseline/fault/recovery): 120/6 → 37/64 → 119/6"
        in out["cockroach-pool-exhaustion"]
    )
    assert "claim 'Cassandra Slow'" in out["cassandra-slow"] and "2 of 5 agree" in out["cassandra-slow"]
    assert "open-loop, 64 users" in props["load"]
    assert props["claims_overall"] == "claim 60.0%, measured 61.2%: agrees"
    path = tmp_path / "junit.xml"
    path.write_text(xml, encoding="utf-8")
    xmlschema.XMLSchema(DATA / "junit-10.xsd").validate(path)


def test_summary_md_says_na_states_the_load_and_the_claims(v2: RunResult) -> None:
    md = render_markdown(v2)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}

    assert rows["cockroach-pool-exhaustion"].startswith(
        "| cockroach-pool-exhaustion | 0 / 3 | n/a | YES: auth, chat, gateway | NO |"
    )
    assert rows["service-crash"].startswith("| service-crash | 6 / 3 | YES 100% | NO | n/a |")
    assert rows["cassandra-slow"].endswith("| 30.1% | 120/6 → 61/64 → 119/6 |")
    assert "Load: capacity 240 rps (reused, measured" in md
    assert "harness CPU 17% of the machine" in md
    claim = rows["cassandra-slow (Cassandra Slow)"]
    assert "| claim PARTIAL, measured YES: disagrees |" in claim
    assert "| claim 50%, measured 30.1%: disagrees |" in claim
    assert "**Overall: claim 60.0%, measured 61.2%: agrees**" in md


def terminal(result: RunResult) -> str:
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(summary_table(result))
    return console.export_text()


def test_terminal_table_says_na_colours_by_meaning_and_states_the_load(v2: RunResult) -> None:
    text = terminal(v2)
    row = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 3}
    data_loss = summary_table(v2).columns[4]
    cells = dict(zip([s.name for s in v2.scenarios], [str(c) for c in data_loss.cells], strict=True))

    assert "│ n/a " in row["cockroach-pool-exhaustion"] and "100%" not in row["cockroach-pool-exhaustion"]
    assert cells["cassandra-slow"] == "[red]YES[/]"
    assert cells["push-outage"] == "[red]YES[/]: push.notifications 6/40 lost"  # the count in plain text
    assert cells["redis-down"] == "[yellow]PARTIAL[/]"
    assert cells["redis-flaky"] == "[green]NO[/]"
    assert cells["service-crash"] == "[dim]n/a[/]"
    assert "120/6 → 61/64 → 119/6" in row["cassandra-slow"]
    assert "load 120 rps (50% of capacity), open-loop, 64 users, ≤ 64 in flight" in text
    assert "harness CPU 17% of the machine" in text
    assert "15 of 28 cells agree" in text


def test_terminal_table_still_reads_a_v1_result(hardened: RunResult) -> None:
    text = terminal(hardened)

    assert "redis-down" in text and "error" in text
    assert "overall readiness 95.7%" in text


def test_compare_shows_na_where_a_dimension_was_not_measured(v2: RunResult, hardened: RunResult) -> None:
    cmp = compare_runs(hardened, v2)
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(comparison_table(cmp))
    row = next(line for line in console.export_text().splitlines() if "cockroach-pool-exhaustion" in line)

    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[0] == "cockroach-pool-exhaustion"
    assert cells[4] == "n/a"  # Δ isolation: measured in A, n/a in B
    assert cells[7] == "+17.0"  # Δ fail_behaviour: 0.0 → 0.17
    assert "n/a" in render_compare(cmp)


def test_the_plugins_breakdown_shows_na(v2: RunResult) -> None:
    crash = next(s for s in v2.scenarios if s.name == "service-crash")
    cockroach = next(s for s in v2.scenarios if s.name == "cockroach-pool-exhaustion")

    assert "  data loss: n/a" in breakdown(crash, ["readiness 91 (floor 95)"], Path("reports/x"))
    text = breakdown(cockroach, [], Path("reports/x"))
    assert "  isolation: n/a" in text and "isolation n/a" in text  # in the components line too


def test_a_claimed_scenario_that_did_not_complete_is_not_evidence(v2: RunResult) -> None:
    redis = next(s for s in v2.scenarios if s.name == "redis-down")
    assert redis.claim is not None
    redis.status, redis.message, redis.score = "error", "stack went away", None
    redis.claim.agreement = {}  # what Claims.compare gives a scenario without a score

    page = render_run(v2)
    row = table(page, "claims")["redis-down"]
    md = render_markdown(v2)

    assert row[1] == ("claim tone-na", "claim PARTIAL, measured — (error): not measured")
    # The overall compares like with like: the five claimed scenarios that have a score.
    assert "claim 60.0%, measured 60.1%: agrees" in md  # 300 / 5 claimed; 30.1+36.7+91+76+66.8 = 300.6 / 5
    assert "over the 5 of 6 claimed scenarios that have a score" in md
