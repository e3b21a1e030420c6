"""`chaosgate run` writes index.html, junit.xml and summary.md beside result.json; its last line: the HTML.

The stack and the harness are replaced by doubles: what is under test is the command's tail, not a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chaosgate import api, run_cli
from chaosgate.cli import cli
from chaosgate.events import EventKind, RunEvent
from chaosgate.result import RunResult

ROOT = Path(__file__).resolve().parents[2]


def test_run_ends_with_the_html_report_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hardened: RunResult
) -> None:
    @contextlib.contextmanager
    def no_stack(*args: Any, **kwargs: Any) -> Iterator[object]:
        yield object()

    class FakeHarness:
        def __init__(self, **kwargs: Any) -> None:
            self.out_root: Path = kwargs["out_root"]
            self.observers = kwargs["observers"]

        def run(self, scenarios: Any) -> RunResult:
            # As the real harness does: result.json first, in out/<run-id>/, then RUN_FINISHED.
            (self.out_root / hardened.run_id).mkdir(parents=True)
            (self.out_root / hardened.run_id / "result.json").write_text(hardened.model_dump_json())
            for observer in self.observers:
                observer.on_event(RunEvent(EventKind.RUN_FINISHED, run=hardened))
            return hardened

    monkeypatch.setattr(run_cli, "running_stack", no_stack)
    monkeypatch.setattr(api, "Harness", FakeHarness)
    out = tmp_path / "reports"

    result = CliRunner().invoke(
        cli, ["run", "backend-slow", "--out", str(out), "--config", str(ROOT / "chaos.yaml")]
    )

    assert result.exit_code == 1, result.output  # the hardened run's gate failed (redis-down: error)
    assert result.output.strip().splitlines()[-1] == str(out / hardened.run_id / "index.html")
    assert "gate: FAIL" in result.output
    for name in ("index.html", "junit.xml", "summary.md", "result.json"):
        assert (out / hardened.run_id / name).is_file()
