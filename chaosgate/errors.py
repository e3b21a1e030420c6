"""Every failure chaosgate reports to a user, as one tree of exceptions.

    ChaosgateError                  anything chaosgate raises on purpose
     ├── ValidationError            the input is wrong (scenario, config, flag); nothing was touched
     ├── StackError                 the system under test could not be set up, reached or torn down
     ├── RunError                   a fault or a probe failed while a run was under way
     │    ├── FaultError            a fault could not be applied, verified or removed
     │    └── ProbeError            a probe could not be carried out
     └── Interrupted                the run was stopped by a signal; faults were rolled back

Each class carries the process exit code the CLI uses for it, so the mapping lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ChaosgateError(Exception):
    """Base class: a failure with a message meant for the person at the terminal."""

    exit_code = 1


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem sits: file, 1-based line (0 when unknown) and dotted key."""

    file: Path | str
    line: int = 0
    key: str = ""

    def __str__(self) -> str:
        where = str(self.file)
        if self.line:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return where


class ValidationError(ChaosgateError):
    """The user's input is wrong; the message names where and what would be valid."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.location = location
        self.detail = message
        super().__init__(f"{location}: {message}" if location else message)


class StackError(ChaosgateError):
    """The system under test could not be started, reached, or stopped."""

    exit_code = 3


class RunError(ChaosgateError):
    """Something went wrong while a run was under way."""

    exit_code = 3


class FaultError(RunError):
    """A fault could not be applied, verified, or removed."""


class ProbeError(RunError):
    """A probe could not be carried out at all (as opposed to observing a failure)."""


class Interrupted(ChaosgateError):
    """A signal stopped the work; every fault was rolled back before this was raised."""

    exit_code = 130
