"""The video service's HTTP and WebSocket routes under /v1/video."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from target_system.common.admin import require_admin
from target_system.common.errors import BadRequest, NotFound
from target_system.common.text import check_line
from target_system.common.tokens import CurrentUser
from target_system.video.models import MAX_CLIENT_IDS, MAX_ID_CHARS, CallIn
from target_system.video.service import VideoService
from target_system.video.signaling import serve_socket


async def _current_user(connection: HTTPConnection) -> CurrentUser:
    video: VideoService = connection.app.state.video
    return await video.auth.require_user(connection)


# Module level, so FastAPI can resolve the (postponed) annotation of every route.
User = Annotated[CurrentUser, Depends(_current_user)]


def _call_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("no such call") from None


def _client_ids(text: str) -> list[str]:
    ids = list(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
    if len(ids) > MAX_CLIENT_IDS:
        raise BadRequest(f"ask about at most {MAX_CLIENT_IDS} client ids at once")
    return [check_line(i, "client_ids", max_length=MAX_ID_CHARS) for i in ids]


def build_router(video: VideoService) -> APIRouter:
    """All routes, closed over the service's root object."""
    router = APIRouter(prefix="/v1/video")

    @router.post("/calls", status_code=201)
    async def create_call(body: CallIn, user: User) -> JSONResponse:
        created = await video.calls.create(body, user.user_id)
        if created.created:
            video.metrics.calls_created.inc()
            await video.notifier.call_changed(created.call)
        return JSONResponse(created.call.to_json(), status_code=201 if created.created else 200)

    @router.get("/calls")
    async def list_calls(user: User, client_ids: str | None = None) -> JSONResponse:
        """My calls; with `client_ids=a,b`, only the calls I created with those client ids."""
        if client_ids is not None:
            calls = await video.calls.by_client_ids(user.user_id, _client_ids(client_ids))
        else:
            calls = await video.calls.mine(user.user_id)
        return JSONResponse({"calls": [c.to_json() for c in calls]})

    @router.get("/calls/{call_id}")
    async def get_call(call_id: str, user: User) -> JSONResponse:
        call = await video.calls.get_for(_call_id(call_id), user.user_id)
        return JSONResponse(call.to_json())

    @router.post("/calls/{call_id}/join")
    async def join_call(call_id: str, user: User) -> JSONResponse:
        call = await video.calls.join(_call_id(call_id), user.user_id)
        await video.notifier.call_changed(call)
        return JSONResponse(call.to_json())

    @router.post("/calls/{call_id}/leave")
    async def leave_call(call_id: str, user: User) -> JSONResponse:
        call = await video.calls.leave(_call_id(call_id), user.user_id)
        await video.notifier.call_changed(call)
        return JSONResponse(call.to_json())

    @router.post("/admin/cleanup")
    async def run_cleanup(request: Request) -> JSONResponse:
        require_admin(request, video.settings.admin_token)
        ended = await video.cleanup.run_once()
        return JSONResponse({"ended": len(ended), "call_ids": [str(c.id) for c in ended]})

    @router.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await serve_socket(socket, video)

    return router
