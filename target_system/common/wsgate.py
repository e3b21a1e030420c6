"""WebSocket admission and lifetime: the connection cap (WS_CAP: per process in chat and video, per
backend in the gateway), the per-user cap, and the end of a socket's authority (logout, expiry)."""

from __future__ import annotations

import asyncio
import time

from target_system.common.revocations import LocalRevocations
from target_system.common.tokens import CurrentUser

TOKEN_EXPIRED = "token expired"
TOKEN_REVOKED = "token revoked"


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


class UserSocketCap:
    """Open WebSockets per user, capped in every profile (`SC_WS_USER_CAP`): without it one account
    could hold a process's whole share of sockets (WS_CAP's, or the unfixed code's 1000) and lock
    every other user out."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self._open: dict[str, int] = {}

    def try_enter(self, user_id: str) -> bool:
        count = self._open.get(user_id, 0)
        if count >= self.cap:
            return False
        self._open[user_id] = count + 1
        return True

    def leave(self, user_id: str) -> None:
        count = self._open.get(user_id, 0) - 1
        if count > 0:
            self._open[user_id] = count
        else:
            self._open.pop(user_id, None)


async def authority_ends(revocations: LocalRevocations, user: CurrentUser) -> str:
    """Wait until the token a socket was opened with expires, or it or its session is revoked (a logout,
    learnt from auth's revocation log); returns the close reason. A socket must not outlive its token."""
    with revocations.watching(user.jti, user.session_id) as revoked:
        try:
            async with asyncio.timeout(max(0.0, user.expires_at - time.time())):
                await revoked.wait()
        except TimeoutError:
            return TOKEN_EXPIRED
    return TOKEN_REVOKED
