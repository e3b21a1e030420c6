"""The run journal: every event appended to journal.jsonl as it happens, result.json written atomically."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from chaosgate.events import EventKind, RunEvent
from chaosgate.result import RunResult


class Journal:
    """An observer that keeps the run on disk, so a crash loses at most the line being written."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._events = (out_dir / "journal.jsonl").open("a", encoding="utf-8")

    def on_event(self, event: RunEvent) -> None:
        if event.kind is EventKind.SAMPLE:
            return  # samples land in result.json; the journal keeps the story, not every probe
        line = {"at": time.time(), "kind": event.kind.value, "scenario": event.scenario, **event.data}
        self._events.write(json.dumps(line, default=str) + "\n")
        self._events.flush()

    def write_result(self, result: RunResult) -> Path:
        path = self.out_dir / "result.json"
        temp = path.with_suffix(".json.tmp")
        temp.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        os.replace(temp, path)
        return path

    def close(self) -> None:
        self._events.close()
