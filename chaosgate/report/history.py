"""Run history: every run's result.json kept under the out dir, listed in time order and looked up by id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydantic

from chaosgate.errors import ValidationError
from chaosgate.report.view import verdict
from chaosgate.result import RunResult


@dataclass(frozen=True)
class RunEntry:
    """One kept run, as the history lists it."""

    run_id: str
    result_path: Path
    started_at: float
    profile: str
    overall: float | None
    verdict: str
    scenarios: int


def load_run(result_path: Path) -> RunResult:
    try:
        return RunResult.model_validate_json(result_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read {result_path}: {exc.strerror}") from None
    except pydantic.ValidationError as exc:
        raise ValidationError(f"{result_path} is not a chaosgate result: {exc.errors()[0]['msg']}") from None


def list_runs(out: Path) -> list[RunEntry]:
    """Every readable run under `out`, oldest first; unreadable folders (a run still starting) are skipped."""
    entries = []
    for path in sorted(out.glob("*/result.json")):
        try:
            result = load_run(path)
        except ValidationError:
            continue
        entries.append(
            RunEntry(
                run_id=result.run_id,
                result_path=path,
                started_at=result.started_at,
                profile=result.profile,
                overall=result.overall,
                verdict=verdict(result),
                scenarios=len(result.scenarios),
            )
        )
    return sorted(entries, key=lambda e: (e.started_at, e.run_id))


def trend(previous: float | None, current: float | None) -> str:
    """↑ or ↓ against the previous run's overall score; = when equal; blank when either has none."""
    if previous is None or current is None:
        return ""
    if round(current, 1) == round(previous, 1):
        return "="
    return "↑" if current > previous else "↓"


def resolve_run(run: str | None, out: Path) -> Path:
    """RUN (a run id under `out`, a run folder or a result.json), or the latest run → its result.json."""
    if run is None:
        runs = list_runs(out)
        if not runs:
            raise ValidationError(f"no runs under {out} (run `chaosgate run` first, or pass --out)")
        return runs[-1].result_path
    given = Path(run)
    for candidate in (given, given / "result.json", out / run / "result.json"):
        if candidate.is_file():
            return candidate
    known = ", ".join(e.run_id for e in list_runs(out)[-5:]) or "none"
    raise ValidationError(
        f"no run {run!r}: not a result.json, a run folder or a run id under {out}; latest: {known}"
    )
