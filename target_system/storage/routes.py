"""The storage service's HTTP routes under /v1/storage."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from target_system.common.errors import BadRequest, NotFound
from target_system.common.text import check_line
from target_system.common.tokens import CurrentUser
from target_system.storage.models import MAX_CLIENT_ID_CHARS, MAX_CLIENT_IDS
from target_system.storage.service import StorageService, Upload

DEFAULT_CONTENT_TYPE = "application/octet-stream"


async def _current_user(connection: HTTPConnection) -> CurrentUser:
    storage: StorageService = connection.app.state.storage
    return await storage.auth.require_user(connection)


# Module level, so FastAPI can resolve the (postponed) annotation of every route.
User = Annotated[CurrentUser, Depends(_current_user)]


def _file_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("no such file") from None


async def read_upload(request: Request) -> Upload:
    """A multipart form (`file` part, optional `client_file_id` field) or a raw body with `?name=`."""
    client_file_id = request.query_params.get("client_file_id") or None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise BadRequest("a multipart upload needs a `file` part")
            field = form.get("client_file_id")
            if isinstance(field, str) and field:
                client_file_id = field
            return Upload(
                name=request.query_params.get("name") or part.filename or "",
                content_type=part.content_type or DEFAULT_CONTENT_TYPE,
                data=await part.read(),
                client_file_id=client_file_id,
            )
    name = request.query_params.get("name")
    if not name:
        raise BadRequest("a raw upload needs ?name=<file name>")
    return Upload(
        name=name,
        content_type=content_type or DEFAULT_CONTENT_TYPE,
        data=await request.body(),
        client_file_id=client_file_id,
    )


def build_router(storage: StorageService) -> APIRouter:
    """All routes, closed over the service's root object."""
    router = APIRouter(prefix="/v1/storage")

    @router.post("/files", status_code=201)
    async def upload(request: Request, user: User) -> JSONResponse:
        uploaded = await storage.upload(user.user_id, await read_upload(request))
        return JSONResponse(uploaded.file.to_json(), status_code=201 if uploaded.created else 200)

    @router.get("/files")
    async def list_files(user: User, client_ids: str | None = None) -> JSONResponse:
        """My files; with `client_ids=a,b`, only those uploaded with these client file ids."""
        if client_ids is None:
            files = await storage.catalog.mine(user.user_id)
        else:
            wanted = list(dict.fromkeys(i.strip() for i in client_ids.split(",") if i.strip()))
            if len(wanted) > MAX_CLIENT_IDS:
                raise BadRequest(f"ask about at most {MAX_CLIENT_IDS} client ids at once")
            for client_id in wanted:
                check_line(client_id, "client_ids", max_length=MAX_CLIENT_ID_CHARS)
            files = await storage.catalog.by_client_ids(user.user_id, wanted)
        return JSONResponse({"files": [f.to_json() for f in files]})

    @router.get("/files/{file_id}/meta")
    async def metadata(file_id: str, user: User) -> JSONResponse:
        file = await storage.owned(_file_id(file_id), user.user_id)
        return JSONResponse(file.to_json())

    @router.get("/files/{file_id}")
    async def download(file_id: str, user: User) -> Response:
        file, data = await storage.download(_file_id(file_id), user.user_id)
        headers = {
            "content-disposition": f"attachment; filename*=UTF-8''{quote(file.name)}",
            "x-file-sha256": file.sha256,
        }
        return Response(data, media_type=file.content_type, headers=headers)

    @router.delete("/files/{file_id}", status_code=204)
    async def delete(file_id: str, user: User) -> Response:
        await storage.delete(_file_id(file_id), user.user_id)
        return Response(status_code=204)

    return router
