"""The example's orders API: stores orders in Redis and prices them with the catalog API.

    POST /sessions           {"user": ...}                      -> 201 {"token": ...}
    POST /orders             Bearer token, {"item", "qty", "id"?} -> 201 the order
    GET  /orders/{id}        Bearer token                       -> 200 the order | 404 | 503
    GET  /quote/{item}                                          -> 200 {"item", "price"} | 503
    GET  /health/live                                           -> 200

Two behaviours worth a chaos run, on purpose:
- A create is acknowledged (201) once the order is in an in-memory write-behind buffer, flushed to
  Redis every ORDERS_FLUSH_S (0.2 s). A flush that cannot reach Redis drops the whole buffer: during
  a Redis outage every acknowledged order is lost. chaosgate's ledger writer counts them.
- When the catalog does not answer within 0.5 s, orders and quotes use the last price it gave for the
  item and say so with `X-Orders-Degraded` (503 when there is no such price yet).

Configured by ORDERS_REDIS_URL and ORDERS_CATALOG_URL (through the fault proxy: run.py sets them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DEGRADED = "X-Orders-Degraded"
FLUSH_S = float(os.environ.get("ORDERS_FLUSH_S", "0.2"))
CATALOG_TIMEOUT_S = 0.5
log = logging.getLogger("orders")


class Orders:
    def __init__(self) -> None:
        # No retries and short timeouts: an unreachable Redis is an error at once, not seconds later.
        self.redis = Redis.from_url(
            os.environ["ORDERS_REDIS_URL"],
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        self.catalog = httpx.AsyncClient(base_url=os.environ["ORDERS_CATALOG_URL"], timeout=CATALOG_TIMEOUT_S)
        self.buffer: dict[str, dict[str, Any]] = {}  # acknowledged, not yet in Redis
        self.prices: dict[str, float] = {}  # the last price the catalog gave for each item
        self.tokens: set[str] = set()
        self.dropped = 0

    async def price(self, item: str) -> tuple[float | None, bool]:
        """(price, from the cache?)"""
        try:
            answer = await self.catalog.get(f"/prices/{item}")
            answer.raise_for_status()
            self.prices[item] = float(answer.json()["price"])
            return self.prices[item], False
        except (httpx.HTTPError, ValueError, KeyError):
            return self.prices.get(item), True

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            if not self.buffer:
                continue
            batch, self.buffer = self.buffer, {}
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for order_id, order in batch.items():
                        pipe.set(f"order:{order_id}", json.dumps(order))
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self.dropped += len(batch)  # the bug this example exists for
                log.warning("flush failed (%s): dropped %d acknowledged orders", exc, len(batch))


orders = Orders()


def _authorised(request: Request) -> bool:
    return request.headers.get("Authorization", "").removeprefix("Bearer ") in orders.tokens


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def open_session(request: Request) -> JSONResponse:
    token = secrets.token_hex(16)
    orders.tokens.add(token)
    return JSONResponse({"token": token}, status_code=201)


async def create(request: Request) -> JSONResponse:
    if not _authorised(request):
        return _error(401, "open a session first (POST /sessions)")
    body = await request.json()
    price, cached = await orders.price(str(body["item"]))
    if price is None:
        return _error(503, "the catalog does not answer and this item has no cached price")
    order = {
        "id": str(body.get("id") or uuid.uuid4()),
        "item": body["item"],
        "qty": int(body.get("qty", 1)),
        "price": price,
    }
    orders.buffer[order["id"]] = order
    headers = {DEGRADED: "catalog unavailable: cached price"} if cached else {}
    return JSONResponse(order, status_code=201, headers=headers)


async def read(request: Request) -> JSONResponse:
    if not _authorised(request):
        return _error(401, "open a session first (POST /sessions)")
    order_id = request.path_params["order_id"]
    if order_id in orders.buffer:
        return JSONResponse(orders.buffer[order_id])
    try:
        stored = await orders.redis.get(f"order:{order_id}")
    except (RedisError, OSError):
        return _error(503, "the order store is unavailable")
    if stored is None:
        return _error(404, "no such order")
    return JSONResponse(json.loads(stored))


async def quote(request: Request) -> JSONResponse:
    item = request.path_params["item"]
    price, cached = await orders.price(item)
    if price is None:
        return _error(503, "the catalog does not answer and this item has no cached price")
    headers = {DEGRADED: "catalog unavailable: cached price"} if cached else {}
    return JSONResponse({"item": item, "price": price}, headers=headers)


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "dropped_orders": orders.dropped})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    flusher = asyncio.create_task(orders.flush_forever())
    yield
    flusher.cancel()


app = Starlette(
    routes=[
        Route("/sessions", open_session, methods=["POST"]),
        Route("/orders", create, methods=["POST"]),
        Route("/orders/{order_id}", read),
        Route("/quote/{item}", quote),
        Route("/health/live", live),
    ],
    lifespan=lifespan,
)
