"""The simulator's failure modes and the control state that holds the current one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    """How the simulator answers sends; the values are what `POST /control/mode` accepts."""

    OK = "ok"
    UNAVAILABLE = "503"
    RATE_LIMITED = "429"
    SLOW = "slow"
    INVALID_TOKENS = "invalid-tokens"


@dataclass(frozen=True, slots=True)
class FailureMode:
    """One mode with its parameters (`delay_ms` for slow, `retry_after_s` for 429)."""

    mode: Mode = Mode.OK
    delay_ms: int = 0
    retry_after_s: int = 1

    @classmethod
    def from_json(cls, body: Any) -> FailureMode:
        """Parse a control body; `ValueError` naming what is wrong and what would be valid."""
        if not isinstance(body, dict) or "mode" not in body:
            raise ValueError('body must be an object with "mode"')
        try:
            mode = Mode(str(body["mode"]))
        except ValueError:
            valid = ", ".join(m.value for m in Mode)
            raise ValueError(f"unknown mode {body['mode']!r}; valid: {valid}") from None
        delay_ms = _bounded_int(body, "delay_ms", 0, 0, 120_000)
        retry_after_s = _bounded_int(body, "retry_after_s", 1, 0, 3600)
        if mode is Mode.SLOW and delay_ms == 0:
            raise ValueError('mode "slow" needs "delay_ms" > 0')
        return cls(mode, delay_ms, retry_after_s)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "delay_ms": self.delay_ms, "retry_after_s": self.retry_after_s}


def _bounded_int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f'"{key}" must be an integer from {low} to {high}, not {value!r}')
    return value


class ModeControl:
    """The current mode of one simulator process (the harness switches it over HTTP)."""

    def __init__(self) -> None:
        self.current = FailureMode()

    def switch(self, mode: FailureMode) -> FailureMode:
        self.current = mode
        return mode
