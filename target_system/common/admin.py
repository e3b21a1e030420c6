"""The admin check of every service's admin endpoints: `X-Admin-Token` against `SC_ADMIN_TOKEN`."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from target_system.common.errors import Forbidden

ADMIN_HEADER = "X-Admin-Token"


def require_admin(conn: HTTPConnection, expected: str | None) -> None:
    """Return if the request carries the admin token; 403 `admin_only` otherwise, or when none is set.

    Compared as bytes, in constant time: a header is whatever bytes the client sent (Starlette hands
    them over as latin-1 text), and `hmac.compare_digest` refuses non-ASCII text with a TypeError.
    """
    given = conn.headers.get(ADMIN_HEADER)
    # No configured token means no admin at all, rather than "any token goes".
    if not expected or given is None or not hmac.compare_digest(given.encode("latin-1"), expected.encode()):
        raise Forbidden(f"admin only: send a valid {ADMIN_HEADER}", code="admin_only")
