"""Readiness reports rendered from a run's result: self-contained HTML, JUnit XML, Markdown, history."""

from chaosgate.report.writer import ReportPaths, write_reports

__all__ = ["ReportPaths", "write_reports"]
