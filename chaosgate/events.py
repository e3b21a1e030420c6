"""The runner's events and the observers that listen to them; an observer that raises cannot break a run."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chaosgate.result import RunResult

_log = logging.getLogger(__name__)


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    SCENARIO_STARTED = "scenario_started"
    PHASE = "phase"  # the scenario entered a chaosgate.samples.Phase (its value in `phase`)
    FAULT = "fault"  # a ledger event of one fault
    SAMPLE = "sample"  # one probe sample
    SCENARIO_FINISHED = "scenario_finished"
    RUN_FINISHED = "run_finished"
    MESSAGE = "message"


@dataclass(frozen=True)
class RunEvent:
    kind: EventKind
    scenario: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # JSON-able: the journal keeps it
    run: RunResult | None = None  # RUN_FINISHED: the whole result, for reporters


class Observer(Protocol):
    def on_event(self, event: RunEvent) -> None: ...


class EventBus:
    """Delivers every event to every observer, in order; a failing observer is logged and skipped."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self.observers = list(observers)

    def emit(self, kind: EventKind, scenario: str = "", *, run: RunResult | None = None, **data: Any) -> None:
        event = RunEvent(kind, scenario, data, run)
        for observer in self.observers:
            try:
                observer.on_event(event)
            except Exception:
                _log.exception("observer %r failed on %s", observer, kind)
