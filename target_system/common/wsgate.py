"""A WebSocket connection count and its cap (WS_CAP): per process in chat and video, per backend in
the gateway."""

from __future__ import annotations


class SocketGate:
    """The open connection count, and the cap when WS_CAP is on (`cap` None: no cap)."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.open = 0

    def try_enter(self) -> bool:
        if self.cap is not None and self.open >= self.cap:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1
