"""Auth's admin endpoints, guarded by `X-Admin-Token: <SC_ADMIN_TOKEN>` (403 without it, or if unset)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from target_system.auth.cleanup import TokenCleanup
from target_system.common.errors import Forbidden

ADMIN_HEADER = "X-Admin-Token"


def admin_router(cleanup: TokenCleanup, admin_token: str | None) -> APIRouter:
    """`POST /v1/auth/admin/cleanup` → `{"deleted": {table: n}, "total": n, "duration_s": s}`."""
    router = APIRouter(prefix="/v1/auth/admin")

    def require_admin(request: Request) -> None:
        given = request.headers.get(ADMIN_HEADER, "")
        # No configured token means no admin at all, rather than "any token goes".
        if not admin_token or not hmac.compare_digest(given.encode(), admin_token.encode()):
            raise Forbidden(f"admin only: send a valid {ADMIN_HEADER}", code="admin_only")

    @router.post("/cleanup")
    async def run_cleanup(request: Request) -> JSONResponse:
        require_admin(request)
        return JSONResponse((await cleanup.run()).to_json())

    return router
