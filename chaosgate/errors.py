"""Every failure chaosgate reports to a user, as one tree of exceptions.

    ChaosgateError                  anything chaosgate raises on purpose
     ├── ValidationError            the input is wrong (scenario, config, flag); nothing was touched
     ├── StackError                 the system under test could not be set up, reached or torn down
     ├── RunError                   a fault or a probe failed while a run was under way
     │    ├── FaultError            a fault could not be applied, verified or removed
     │    │    └── TargetGone       what a fault was on no longer exists: nothing is left to remove
     │    ├── ProbeError            a probe could not be carried out
     │    └── ReadBackBlind         a writer's read-back answered but could not see: "cannot tell", no loss
     └── Interrupted                the run was stopped by a signal; faults were rolled back

Each class carries the process exit code the CLI uses for it, so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: what, and where (when known)."""

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ValidationError(ChaosgateError):
    """The user's input is wrong; the message names where and what would be valid.

    One error can carry every problem found in a file (`problems`); `location` and `detail` are the
    first one's, and `str()` is one problem per line.
    """

    exit_code = 2

    def __init__(
        self, message: str, location: Location | None = None, *, also: Sequence[Problem] = ()
    ) -> None:
        self.location = location
        self.detail = message
        self.problems: tuple[Problem, ...] = (Problem(message, location), *also)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> ValidationError:
        """One error for several problems (at least one), in the order given."""
        first, *rest = problems
        return cls(first.message, first.location, also=rest)


class StackError(ChaosgateError):
    """The system under test could not be started, reached, or stopped."""

    exit_code = 3


class RunError(ChaosgateError):
    """Something went wrong while a run was under way."""

    exit_code = 3


class FaultError(RunError):
    """A fault could not be applied, verified, or removed."""


class TargetGone(FaultError):
    """Removing a fault found its target gone (a deleted proxy, a removed container): the fault
    went with it, so the ledger records it as gone instead of keeping it to block later runs."""


class ProbeError(RunError):
    """A probe could not be carried out at all (as opposed to observing a failure)."""


class ReadBackBlind(RunError):
    """A ledger writer's read-back answered, but what it reads cannot show the writes: a listing path
    that matches nothing in the answer (a typo such as `$.ref[*]` for `$.refs[*]`), a listing that
    yielded no id at all. The data-loss check reports "cannot tell" with this message instead of
    counting every acknowledged write lost."""


class Interrupted(ChaosgateError):
    """A signal stopped the work; every fault was rolled back before this was raised."""

    exit_code = 130

    def __init__(self, message: str, *, result: object | None = None) -> None:
        # The run's partial result (a RunResult), so its reports can still be written.
        self.result = result
        super().__init__(message)
