"""Push's HTTP routes under /v1/push: register, list and remove the caller's device tokens."""

# No `from __future__ import annotations`: FastAPI must see the real `User` dependency type.
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse, Response

from target_system.common.tokens import Authenticator, CurrentUser
from target_system.push.devices import DeviceIn, DeviceRegistry


def build_router(devices: DeviceRegistry, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1/push")
    User = Annotated[CurrentUser, Depends(authenticator.require_user)]

    @router.post("/devices", status_code=201)
    async def register(body: DeviceIn, user: User) -> JSONResponse:
        device = await devices.register(user.user_id, body)
        return JSONResponse(device.to_json(), status_code=201)

    @router.get("/devices")
    async def mine(user: User) -> JSONResponse:
        owned = await devices.of_users([user.user_id])
        return JSONResponse({"devices": [d.to_json() for d in owned]})

    @router.delete("/devices/{token}", status_code=204)
    async def unregister(token: str, user: User) -> Response:
        await devices.unregister(user.user_id, token)
        return Response(status_code=204)

    return router
