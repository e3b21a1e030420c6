"""SQL transactions whose BEGIN and COMMIT are bounded like every other query (STORE_TIMEOUTS).

`SqlStore.transaction()` starts and commits through asyncpg's transaction object, which takes no
timeout: through a slow link a BEGIN waits as long as the link does, whatever the switch says.
Sending BEGIN/COMMIT as plain statements puts them under the store's query timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from target_system.common.sql import SqlConnection, SqlStore, SqlUnavailable


@asynccontextmanager
async def bounded_transaction(sql: SqlStore) -> AsyncIterator[SqlConnection]:
    """A connection inside a transaction: committed on a clean exit, rolled back on an error."""
    async with sql.connection() as conn:
        await conn.execute("BEGIN")
        try:
            yield conn
        except (SqlUnavailable, asyncio.CancelledError):
            raise  # the store drops the connection on release; a rollback would wait on the dead link
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
