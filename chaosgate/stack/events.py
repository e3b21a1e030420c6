"""What the launcher reports as it starts and stops a stack: one event per component and phase."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class StackPhase(StrEnum):
    """What the launcher is doing to a component; observers turn these into a progress display."""

    SWEEPING = "sweeping"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    RUNNING = "running"  # `up` found the stack already running


@dataclass(frozen=True)
class StackEvent:
    component: str
    phase: StackPhase
    detail: str = ""


Observer = Callable[[StackEvent], None]
