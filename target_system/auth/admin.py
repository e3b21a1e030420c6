"""Auth's admin endpoints, guarded by `X-Admin-Token: <SC_ADMIN_TOKEN>` (403 without it, or if unset)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from target_system.auth.cleanup import TokenCleanup
from target_system.common.admin import require_admin


def admin_router(cleanup: TokenCleanup, admin_token: str | None) -> APIRouter:
    """`POST /v1/auth/admin/cleanup` → `{"deleted": {table: n}, "total": n, "duration_s": s}`."""
    router = APIRouter(prefix="/v1/auth/admin")

    @router.post("/cleanup")
    async def run_cleanup(request: Request) -> JSONResponse:
        require_admin(request, admin_token)
        return JSONResponse((await cleanup.run()).to_json())

    return router
