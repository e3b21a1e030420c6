"""Durations as users write them ("20s", "500ms", "2m", 1.5), normalised once into seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number (already seconds) or a string with a unit; anything else is a ValueError."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '500ms', '20s', '2m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError("a duration is a number of seconds or a string such as '500ms', '20s', '2m'")


Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=float | str), Field(ge=0)]
"""Seconds; accepts '500ms', '20s', '2m', '1h' or a plain number of seconds."""
