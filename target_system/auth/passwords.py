"""Password hashing with argon2id, off the event loop.

Costs come from settings and are deliberately low (1 pass, 8 MiB, 1 lane by default): this is a test
stack whose logins must be fast enough to probe many times a second, not a production one.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from target_system.settings import Settings


class Passwords:
    """Hashes and verifies passwords in a worker thread (argon2-cffi releases the GIL)."""

    def __init__(self, settings: Settings) -> None:
        tun = settings.tunables
        self._hasher = PasswordHasher(
            time_cost=tun.argon2_time_cost,
            memory_cost=tun.argon2_memory_kib,
            parallelism=tun.argon2_parallelism,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored_hash, password)

    async def burn(self, password: str) -> None:
        """Spend the time of one verification, so unknown emails answer as slowly as wrong passwords."""
        if self._dummy is None:
            self._dummy = await self.hash("not-a-real-password")
        await self.verify(self._dummy, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored_hash, password))
        except (VerificationError, InvalidHashError):
            return False
