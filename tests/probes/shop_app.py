"""A small real HTTP shop on a loopback socket, for the declared probes and writers to act on.

    POST /sessions          {"user": ...}                  -> 201 {"token": ...}
    POST /orders            Bearer token, {"id"?, "item"}   -> 201 {"id", "item", "qty"}
    GET  /orders/{id}       Bearer token                    -> 200 the order | 404
    GET  /orders            Bearer token                    -> 200 {"items": [{"id": ...}], "refs": [...]}
    GET  /health/live                                       -> 200 (no token needed)

Switches the tests turn: `down` (every route answers 503 with an error body), `degraded` (answers
carry X-Shop-Degraded), `lose_every` (every n-th acknowledged order is not kept: a lying store),
`keep_unacknowledged` (orders are kept but answered 504, as when a timeout loses the answer).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEGRADED = "X-Shop-Degraded"


@dataclass
class Shop:
    down: bool = False
    degraded: bool = False
    lose_every: int = 0
    keep_unacknowledged: bool = False
    tokens: set[str] = field(default_factory=set)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str], Any]] = field(
        default_factory=list
    )  # method, path, headers, json
    acknowledged: int = 0

    def app(self) -> web.Application:
        counter = itertools.count(1)

        @web.middleware
        async def switches(request: web.Request, handler: Any) -> web.StreamResponse:
            body: Any = None
            if request.can_read_body:
                text = await request.text()
                body = await request.json() if request.content_type == "application/json" else text
            headers = {key.lower(): value for key, value in request.headers.items()}
            self.seen.append((request.method, request.path_qs, headers, body))
            if self.down:
                return web.json_response({"error": "shop is down"}, status=503)
            if (
                request.path not in ("/sessions", "/health/live")
                and request.headers.get("Authorization", "")[7:] not in self.tokens
            ):
                return web.json_response({"error": "who are you?"}, status=401)
            answer = await handler(request)
            if self.degraded:
                answer.headers[DEGRADED] = "served from cache"
            return answer

        async def session(request: web.Request) -> web.StreamResponse:
            token = f"token-{next(counter)}"
            self.tokens.add(token)
            return web.json_response({"token": token}, status=201)

        async def create(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            order = {"id": str(body.get("id") or f"order-{next(counter)}"), "item": body["item"], "qty": 1}
            self.acknowledged += 1
            if not (self.lose_every and self.acknowledged % self.lose_every == 0):
                self.orders[order["id"]] = order
            if self.keep_unacknowledged:
                return web.json_response({"error": "upstream timed out"}, status=504)
            return web.json_response(order, status=201)

        async def one(request: web.Request) -> web.StreamResponse:
            order = self.orders.get(request.match_info["id"])
            if order is None:
                return web.json_response({"error": "no such order"}, status=404)
            return web.json_response(order)

        async def listing(request: web.Request) -> web.StreamResponse:
            return web.json_response(
                {"items": [{"id": key} for key in self.orders], "refs": list(self.orders)}
            )

        async def live(request: web.Request) -> web.StreamResponse:
            return web.json_response({"status": "ok"})

        app = web.Application(middlewares=[switches])
        app.add_routes(
            [
                web.post("/sessions", session),
                web.post("/orders", create),
                web.get("/orders", listing),
                web.get("/orders/{id}", one),
                web.get("/health/live", live),
            ]
        )
        return app


@asynccontextmanager
async def serving(shop: Shop) -> AsyncIterator[str]:
    """The shop on 127.0.0.1 (a free port) for the block; yields its base URL."""
    runner = web.AppRunner(shop.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
