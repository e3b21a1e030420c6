"""What the simulator received: a bounded, numbered log the harness reads to count lost notifications."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

CAPACITY = 100_000  # entries kept; the oldest go first


class Outcome(StrEnum):
    """What the simulator did with one authenticated send."""

    DELIVERED = "delivered"
    UNAVAILABLE = "unavailable"  # answered 503
    RATE_LIMITED = "rate_limited"  # answered 429
    UNREGISTERED = "unregistered"  # answered 404 UNREGISTERED
    ABANDONED = "abandoned"  # slow mode: the caller hung up before the answer


@dataclass(frozen=True, slots=True)
class Received:
    seq: int
    at: float
    outcome: Outcome
    name: str | None  # the message name answered (delivered only)
    token: str
    notification: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "outcome": self.outcome.value,
            "name": self.name,
            "token": self.token,
            "notification": self.notification,
            "data": self.data,
        }


class ReceivedLog:
    """Entries numbered from 1 so that `since(seq)` pages through them without gaps or repeats."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._entries: deque[Received] = deque(maxlen=capacity)
        self._last = 0

    @property
    def last_seq(self) -> int:
        return self._last

    def add(
        self,
        outcome: Outcome,
        token: str,
        notification: dict[str, Any],
        data: dict[str, str],
        name: str | None = None,
    ) -> Received:
        self._last += 1
        entry = Received(self._last, time.time(), outcome, name, token, notification, data)
        self._entries.append(entry)
        return entry

    def since(self, seq: int, *, outcome: Outcome | None = None, limit: int = 1000) -> list[Received]:
        """Entries after `seq`, oldest first, at most `limit`, optionally of one outcome."""
        picked: list[Received] = []
        for entry in self._entries:
            if entry.seq <= seq or (outcome is not None and entry.outcome is not outcome):
                continue
            picked.append(entry)
            if len(picked) >= limit:
                break
        return picked
