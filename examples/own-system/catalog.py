"""The example's catalog API: the price of an item. The orders API calls it for every order and quote.

GET /prices/{item}   -> 200 {"item": ..., "price": ...}
GET /ping            -> 200 (its liveness check: not at the orders API's path)
"""

from __future__ import annotations

import zlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def price(request: Request) -> JSONResponse:
    item = request.path_params["item"]
    cents = 100 + zlib.crc32(item.encode()) % 9900  # a fixed price per item
    return JSONResponse({"item": item, "price": cents / 100})


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/prices/{item}", price), Route("/ping", ping)])
