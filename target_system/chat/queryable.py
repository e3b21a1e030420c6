"""The slice of a SQL connection pool the chat repositories use, so they do not depend on one pool class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Queryable(Protocol):
    """asyncpg-style calls with `$n` placeholders; rows are mappings by column name."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> Any: ...
