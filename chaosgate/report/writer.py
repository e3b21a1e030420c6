"""Writes a run's reports (index.html, junit.xml, summary.md) next to its result.json: as an observer
of the run (ReportWriter), or for a result read back from disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaosgate.events import EventKind, RunEvent
from chaosgate.report.html import render_run
from chaosgate.report.junit import render_junit
from chaosgate.report.markdown import render_markdown
from chaosgate.result import RunResult


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    junit: Path
    markdown: Path


def write_reports(result: RunResult, run_dir: Path) -> ReportPaths:
    """Render every report of `result` into `run_dir` (the folder that holds its result.json)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(
        html=run_dir / "index.html", junit=run_dir / "junit.xml", markdown=run_dir / "summary.md"
    )
    paths.html.write_text(render_run(result), encoding="utf-8")
    paths.junit.write_text(render_junit(result), encoding="utf-8")
    paths.markdown.write_text(render_markdown(result), encoding="utf-8")
    return paths


class ReportWriter:
    """Listens to a run, as pytest's junitxml listens to a session: when the run finishes (also when a
    signal or an error cut it short), its reports land in `out_root/<run id>/` beside result.json."""

    def __init__(self, out_root: Path) -> None:
        self.out_root = out_root

    def on_event(self, event: RunEvent) -> None:
        if event.kind is EventKind.RUN_FINISHED and event.run is not None:
            write_reports(event.run, self.out_root / event.run.run_id)
