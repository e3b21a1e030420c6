"""`chaosgate report`, `history` and `compare` on kept result files; `compare --profiles` orchestration."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from chaosgate.cli import cli
from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.report import profiles
from chaosgate.report.history import list_runs, resolve_run, trend
from chaosgate.report.switches import switches_for
from chaosgate.result import RunResult

ROOT = Path(__file__).resolve().parents[2]

BASELINE_ID = "20261122-214145-4885"
HARDENED_ID = "20261122-213103-3d46"


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_report_renders_the_latest_run_again_and_ends_with_the_html_path(runs_out: Path) -> None:
    result = invoke("report", "--out", str(runs_out))

    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last == str(runs_out / BASELINE_ID / "index.html")  # baseline started last
    for name in ("index.html", "junit.xml", "summary.md"):
        assert (runs_out / BASELINE_ID / name).stat().st_size > 0


def test_report_takes_a_run_id_or_a_path(runs_out: Path) -> None:
    by_id = invoke("report", HARDENED_ID, "--out", str(runs_out))
    by_path = invoke("report", str(runs_out / HARDENED_ID / "result.json"))

    assert by_id.output.strip().splitlines()[-1] == str(runs_out / HARDENED_ID / "index.html")
    assert by_path.output.strip().splitlines()[-1] == str(runs_out / HARDENED_ID / "index.html")


def test_an_unknown_run_names_the_known_ones(runs_out: Path) -> None:
    with pytest.raises(ValidationError, match=rf"no run 'nope'.*{BASELINE_ID}"):
        resolve_run("nope", runs_out)


def test_history_lists_runs_in_time_order_with_their_trend(runs_out: Path) -> None:
    result = invoke("history", "--out", str(runs_out))

    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if re.search(r"\d{8}-\d{6}", line)]
    assert [re.search(r"\d{8}-\d{6}-\w{4}", line).group(0) for line in lines] == [HARDENED_ID, BASELINE_ID]  # type: ignore[union-attr]
    assert "95.7" in lines[0] and "hardened" in lines[0] and "FAIL" in lines[0]
    assert "92.0" in lines[1] and "↓" in lines[1] and "PASS" in lines[1]
    assert [e.overall for e in list_runs(runs_out)] == [95.7, 92.0] or all(
        abs(a - b) < 0.05
        for a, b in zip([e.overall or 0 for e in list_runs(runs_out)], [95.7, 92.0], strict=True)
    )


def test_trend_arrows() -> None:
    assert trend(None, 90) == ""
    assert trend(80, 90) == "↑"
    assert trend(90, 80) == "↓"
    assert trend(90.01, 90.02) == "="


def test_compare_two_runs_shows_deltas_and_writes_html(runs_out: Path) -> None:
    result = invoke("compare", BASELINE_ID, HARDENED_ID, "--out", str(runs_out))

    assert result.exit_code == 0, result.output
    page = runs_out / f"compare-{BASELINE_ID}-{HARDENED_ID}.html"
    assert result.output.strip().splitlines()[-1] == str(page)
    # backend-slow: 85.0 in the baseline run, 100.0 in the hardened one; redis-down ended in error there.
    row = next(line for line in result.output.splitlines() if "backend-slow" in line)
    assert "85.0" in row and "100.0" in row and "+15.0" in row
    assert "error" in next(line for line in result.output.splitlines() if "redis-down" in line)
    assert "overall 92.0 → 95.7 (+3.7)" in result.output
    assert "+15.0" in page.read_text(encoding="utf-8")


def test_compare_wants_two_runs_without_profiles(runs_out: Path) -> None:
    with pytest.raises(ValidationError, match="RUN_A RUN_B"):
        invoke("compare", BASELINE_ID, "--out", str(runs_out))


def test_switches_follow_the_fault_as_chaos_yaml_maps_them(baseline: RunResult) -> None:
    exercised = {s.name: switches_for(s, load_topology(ROOT / "chaos.yaml")) for s in baseline.scenarios}

    assert exercised["redis-down"] == [
        "redis_retry",
        "redis_fallback",
        "presence_fail_open",
        "polling_fallback",
    ]
    assert exercised["cassandra-slow"] == ["message_cache", "store_timeouts"]
    assert exercised["cockroach-pool-exhaustion"] == ["pool_limits", "store_timeouts"]
    assert exercised["websocket-flood"] == ["ws_cap"]
    assert exercised["backend-slow"] == ["circuit_breaker", "proxy_timeouts", "request_timeout"]


def test_a_scenarios_own_exercises_win_and_a_topology_without_a_switch_map_credits_nothing(
    baseline: RunResult, tmp_path: Path
) -> None:
    redis_down = next(s for s in baseline.scenarios if s.name == "redis-down")
    own = redis_down.model_copy(update={"exercises": ["redis_fallback", "redis_fallback"]})
    assert switches_for(own, load_topology(ROOT / "chaos.yaml")) == ["redis_fallback"]

    data = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8"))
    del data["switches"]
    (tmp_path / "chaos.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert switches_for(redis_down, load_topology(tmp_path / "chaos.yaml")) == []


class FakeStack:
    """Records the profile changes `compare --profiles` asks for."""

    def __init__(self) -> None:
        self.restarts: list[tuple[str | None, dict[str, bool] | None]] = []
        self.profile = "baseline"
        self.switches: dict[str, bool] = {}

    def restart_services(
        self, *, profile: str | None = None, switches: dict[str, bool] | None = None
    ) -> None:
        self.restarts.append((profile, switches))
        self.profile, self.switches = profile or self.profile, dict(switches or {})


def test_compare_profiles_runs_each_profile_then_each_exercised_switch_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, baseline: RunResult, hardened: RunResult
) -> None:
    stack = FakeStack()
    runs: list[tuple[str, dict[str, bool], list[str]]] = []

    @contextlib.contextmanager
    def fake_running_stack(*args: Any, profile: str, **kwargs: Any) -> Iterator[FakeStack]:
        stack.profile = profile
        yield stack

    def fake_run(st: FakeStack, topology: Any, scenarios: Sequence[Any], **kwargs: Any) -> RunResult:
        runs.append((st.profile, dict(st.switches), [s.name for s in scenarios]))
        source = baseline if st.profile == "baseline" else hardened
        picked = [s.model_copy(deep=True) for s in source.scenarios if s.name in {x.name for x in scenarios}]
        if st.switches:  # one fix off: that fix's scenarios lose 10 points
            for s in picked:
                if s.score:
                    s.score.readiness -= 10
        return source.model_copy(update={"scenarios": picked, "run_id": f"run{len(runs)}"})

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    monkeypatch.setattr(profiles, "running_stack", fake_running_stack)
    monkeypatch.setattr(profiles, "run_on_stack", fake_run)
    chosen = [Named("cassandra-slow"), Named("websocket-flood")]

    cmp = profiles.compare_profiles(
        topology=load_topology(ROOT / "chaos.yaml"),
        scenarios=chosen,  # type: ignore[arg-type]
        profiles=("baseline", "hardened"),
        per_switch=True,
        out=tmp_path,
        time_scale=0.25,
        run_dir=None,
        keep_stack=False,
        err=Console(file=io.StringIO()),
    )

    assert runs == [
        ("baseline", {}, ["cassandra-slow", "websocket-flood"]),
        ("hardened", {}, ["cassandra-slow", "websocket-flood"]),
        ("hardened", {"message_cache": False}, ["cassandra-slow"]),
        ("hardened", {"store_timeouts": False}, ["cassandra-slow"]),
        ("hardened", {"ws_cap": False}, ["websocket-flood"]),
    ]
    assert [(c.scenario, c.switch, c.contribution) for c in cmp.contributions] == [
        ("cassandra-slow", "message_cache", 10.0),
        ("cassandra-slow", "store_timeouts", 10.0),
        ("websocket-flood", "ws_cap", 10.0),
    ]
    assert {s.name: s.switches for s in cmp.scenarios}["websocket-flood"] == ["ws_cap"]
    assert {s.name: s.readiness.change for s in cmp.scenarios}["cassandra-slow"] == 15.0


def test_profiles_to_compare_are_two_different_profiles_of_chaos_yaml() -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    assert profiles.parse_profiles("baseline,hardened", topology) == ("baseline", "hardened")
    for wrong in ("baseline,fortified", "baseline,baseline", "hardened"):
        with pytest.raises(ValidationError, match=r"two different profiles of chaos\.yaml") as caught:
            profiles.parse_profiles(wrong, topology)
        assert "baseline, hardened, reported, verified" in str(caught.value)
