"""The gateway service app: `/v1/<backend>/*` over HTTP and WebSocket, rate limited, breakers per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from target_system.common.app import ROUTE_LABEL_KEY, ReadyCheck, create_service_app
from target_system.common.errors import NotFound, ServiceError, error_response
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.gateway.forward import Forwarder
from target_system.gateway.ratelimit import RateLimiter
from target_system.gateway.routes import routing_table
from target_system.gateway.ws import WebSocketRelay, deny
from target_system.settings import Settings

SERVICE = "gateway"
PREFIX = "/v1/"


class ProxyFastPath:
    """HTTP requests under `prefix` go straight to the proxy handler, skipping FastAPI's routing and
    exception layers: the gateway relays every request, so their per-request cost is pure overhead.
    Everything else (health, metrics, WebSockets) takes the normal route."""

    def __init__(
        self, app: ASGIApp, *, prefix: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.handler(request)
        except ServiceError as exc:
            response = exc.to_response()
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    metrics = ServiceMetrics(SERVICE)
    redis = ResilientRedis(settings, metrics)
    backends = routing_table(settings)
    forwarder = Forwarder(settings, metrics, backends)
    limiter = RateLimiter(settings, redis, metrics)
    relay = WebSocketRelay(settings, metrics, forwarder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await forwarder.start()
        try:
            yield
        finally:
            await forwarder.close()
            await redis.close()

    # Backends are hard dependencies; Redis is soft (rate limiting fails open, chaos.yaml `soft`).
    ready: dict[str, ReadyCheck] = {name: partial(forwarder.backend_live, b) for name, b in backends.items()}

    async def proxy_http(request: Request) -> Response:
        name = request.scope["path"][len(PREFIX) :].split("/", 1)[0]
        backend = backends.get(name)
        if backend is None:
            raise NotFound(f"no backend serves {PREFIX}{name}", code="no_route")
        request.scope[ROUTE_LABEL_KEY] = backend.route_label
        await limiter.check(request)
        return await forwarder.forward(backend, request)

    app = create_service_app(
        settings,
        name=SERVICE,
        ready_checks=ready,
        soft_checks={"redis": redis.ping},
        lifespan=lifespan,
        metrics=metrics,
        inner_middleware=[Middleware(ProxyFastPath, prefix=PREFIX, handler=proxy_http)],
    )

    async def proxy_ws(websocket: WebSocket) -> None:
        name = websocket.path_params["backend"]
        backend = backends.get(name)
        if backend is None:
            await deny(websocket, error_response(404, "no_route", f"no backend serves /v1/{name}"), 1008)
            return
        try:
            await limiter.check(websocket)
        except ServiceError as exc:
            await deny(websocket, exc.to_response(), 1013)
            return
        await relay.serve(websocket, backend)

    app.router.add_websocket_route("/v1/{backend}/{path:path}", proxy_ws)
    app.state.forwarder = forwarder
    app.state.relay = relay
    return app
