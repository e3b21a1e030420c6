"""Text from clients, checked once where it enters: no NUL, no control characters, no lone surrogates.

PostgreSQL refuses NUL in TEXT and every store refuses the lone surrogates a JSON `\\ud800` escape
decodes to; unchecked, either became a 500 (and five of them in a row opened the gateway's breaker).
Request models add `OneLine` (names, ids, keys) or `MultiLine` (tabs and line breaks allowed:
message bodies, questions) to a string field; inputs outside a model (query strings, multipart
fields) go through `check_line`, which answers 400 naming the field.
"""

from __future__ import annotations

import re

from pydantic import AfterValidator

from target_system.common.errors import BadRequest

# C0 and C1 controls, DEL and UTF-16 surrogates; `MultiLine` lets tab, line feed and carriage return through.
_NOT_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_RULE = "must not contain control characters (NUL, line breaks...) or lone surrogates"
_TEXT_RULE = "must not contain NUL, control characters other than tab and line breaks, or lone surrogates"


def line_problem(value: str) -> str | None:
    """Why `value` is not acceptable as a one-line field, or None."""
    return _LINE_RULE if _NOT_IN_LINE.search(value) else None


def _line(value: str) -> str:
    if _NOT_IN_LINE.search(value):
        raise ValueError(_LINE_RULE)
    return value


def _text(value: str) -> str:
    if _NOT_IN_TEXT.search(value):
        raise ValueError(_TEXT_RULE)
    return value


# After the length bounds, so an oversize value is refused for its length first:
# `Annotated[str, StringConstraints(min_length=1, max_length=200), OneLine]`.
OneLine = AfterValidator(_line)
MultiLine = AfterValidator(_text)


def check_line(value: str, field: str, *, max_length: int) -> str:
    """`value` if it is a non-empty line of at most `max_length` characters; else 400 naming `field`."""
    if not value or len(value) > max_length:
        raise BadRequest(f"{field} must have 1 to {max_length} characters", code="invalid_input")
    problem = line_problem(value)
    if problem is not None:
        raise BadRequest(f"{field} {problem}", code="invalid_input")
    return value
