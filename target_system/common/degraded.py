"""The degraded marker: responses served in a fallback mode carry `X-SecureConnect-Degraded: <reason>`.

Code deep in a request (a store wrapper, an auth dependency) calls `mark_degraded(reason)`; the
service middleware (`common.app`) opens a `DegradedMarks` per request and copies the reasons
into the response header. The context variable holds a mutable per-request object rather than the
reasons themselves because FastAPI runs dependencies and sync endpoints in copied contexts: a
value *set* there would not be seen by the middleware, a mutation of the shared object is.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from starlette.responses import Response

DEGRADED_HEADER = "X-SecureConnect-Degraded"
DEGRADED_HEADER_BYTES = DEGRADED_HEADER.lower().encode("latin-1")


class DegradedMarks:
    """The fallback reasons collected while serving one request."""

    __slots__ = ("reasons",)

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def header_value(self) -> str | None:
        return ",".join(self.reasons) if self.reasons else None


# One context variable (not mutable module state: each request gets its own DegradedMarks).
_current: ContextVar[DegradedMarks | None] = ContextVar("secureconnect_degraded", default=None)


def begin_request() -> tuple[DegradedMarks, Token[DegradedMarks | None]]:
    """Open the marks of a new request (called by the service middleware)."""
    marks = DegradedMarks()
    return marks, _current.set(marks)


def end_request(token: Token[DegradedMarks | None]) -> None:
    """Close the marks opened by `begin_request`."""
    _current.reset(token)


def mark_degraded(reason: str, response: Response | None = None) -> None:
    """Mark the current response as served in a fallback mode, for `reason` (e.g. `redis_unavailable`).

    Pass `response` to set the header on it directly (e.g. outside the service middleware).
    """
    marks = _current.get()
    if marks is not None:
        marks.add(reason)
    if response is not None:
        existing = response.headers.get(DEGRADED_HEADER)
        response.headers[DEGRADED_HEADER] = f"{existing},{reason}" if existing else reason
