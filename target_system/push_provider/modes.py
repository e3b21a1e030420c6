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
    """The current mode of one simulator process (the harness switches it over HTTP).

    Modes set under a fault id are layers: the newest layer still present answers, and removing
    one layer leaves the others in force, so two faults on the provider compose (a 503 ending
    while a slow fault begins does not set the provider back to ok). A mode set without an id
    replaces every layer.
    """

    def __init__(self) -> None:
        self._layers: dict[str, FailureMode] = {}

    @property
    def current(self) -> FailureMode:
        return next(reversed(self._layers.values()), FailureMode())

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    def switch(self, mode: FailureMode, layer: str | None = None) -> FailureMode:
        if layer is None:
            self._layers.clear()
            if mode.mode is not Mode.OK:
                self._layers[""] = mode
        else:
            self._layers.pop(layer, None)  # re-set: it becomes the newest
            self._layers[layer] = mode
        return self.current

    def remove(self, layer: str) -> bool:
        """Drop one layer; False when it was not there (removal is idempotent)."""
        return self._layers.pop(layer, None) is not None
