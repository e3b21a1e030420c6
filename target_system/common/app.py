"""The app factory every SecureConnect service starts from: errors, metrics, timeouts, health, /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_system.common.degraded import (
    DEGRADED_HEADER_BYTES,
    DegradedMarks,
    begin_request,
    end_request,
    mark_degraded,
)
from target_system.common.errors import ServiceError, error_body, error_response
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.switches import Switch

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def lifespan_of(component: Lifecycle) -> Lifespan:
    """The app's lifespan for a service object: `start()` before serving, `stop()` after, always."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await component.start()
        try:
            yield
        finally:
            await component.stop()

    return lifespan


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class _BodyTooLarge(Exception):
    """The request body grew past the limit while it was being read."""


def _json_bytes(status: int, code: str, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = error_response(status, code, message).body
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], bytes(body)


class _Exchange:
    """One request's channels as the middleware hands them on: the body counted against the limit, the
    degraded header added to the answer, and the answer's status remembered for the metrics."""

    def __init__(self, receive: Receive, send: Send, marks: DegradedMarks, max_body_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self._marks = marks
        self._max_body_bytes = max_body_bytes
        self._received = 0
        self.status = 500
        self.response_started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
            self.status = message["status"]
            value = self._marks.header_value()
            if value is not None:
                headers = [*message.get("headers", []), (DEGRADED_HEADER_BYTES, value.encode("latin-1"))]
                message = {**message, "headers": headers}
        await self._send(message)

    async def send_error(self, code_status: int, code: str, message: str) -> None:
        if self.response_started:
            return  # too late for a clean answer; the server will close the connection
        headers, body = _json_bytes(code_status, code, message)
        await self.send({"type": "http.response.start", "status": code_status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max_body_bytes:
                raise _BodyTooLarge
        return message


class ServiceMiddleware:
    """Per request: metrics, the degraded header, the body-size limit, the request timeout, and a JSON 500
    for unexpected exceptions. One pure ASGI layer (not BaseHTTPMiddleware) to keep per-request cost low."""

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, request_timeout: float | None, max_body_bytes: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.request_timeout = request_timeout
        self.max_body_bytes = max_body_bytes
        self._label_cache: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        marks, token = begin_request()
        exchange = _Exchange(receive, send, marks, self.max_body_bytes)
        try:
            await self._serve(scope, exchange)
        except _BodyTooLarge:
            await exchange.send_error(413, "too_large", f"request body exceeds {self.max_body_bytes} bytes")
        except ServiceError as exc:
            # Raised outside a route (e.g. by a store during streaming): still a clean JSON answer.
            await exchange.send_error(exc.status, exc.code, exc.message)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            self.metrics.unhandled_errors.labels(self.metrics.service, _route_of(scope)).inc()
            await exchange.send_error(500, "internal_error", "internal error")
        finally:
            end_request(token)
            counter, histogram = self._children(scope.get("method", ""), _route_of(scope), exchange.status)
            counter.inc()
            histogram.observe(time.perf_counter() - started_at)

    async def _serve(self, scope: Scope, exchange: _Exchange) -> None:
        """The app, behind the declared body size and within the request timeout."""
        if self._declared_length(scope) > self.max_body_bytes:
            await exchange.send_error(413, "too_large", f"request body exceeds {self.max_body_bytes} bytes")
            return
        if self.request_timeout is None:
            await self.app(scope, exchange.receive, exchange.send)
            return
        deadline = asyncio.timeout(self.request_timeout)
        try:
            async with deadline:
                await self.app(scope, exchange.receive, exchange.send)
        except TimeoutError:
            if not deadline.expired():
                raise
            await exchange.send_error(
                504, "request_timeout", f"request took longer than {self.request_timeout}s"
            )

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        # Label lookups cost more than the increments; routes and statuses are few, so cache them.
        key = (method, route, status)
        children = self._label_cache.get(key)
        if children is None:
            service = self.metrics.service
            children = (
                self.metrics.http_requests.labels(service, method, route, str(status)),
                self.metrics.http_duration.labels(service, method, route),
            )
            self._label_cache[key] = children
        return children

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0


ROUTE_LABEL_KEY = "secureconnect.route"


def _route_of(scope: Scope) -> str:
    """The route template (bounded label cardinality); plain Starlette routes set ROUTE_LABEL_KEY."""
    label = scope.get(ROUTE_LABEL_KEY)
    if isinstance(label, str):
        return label
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def _install_error_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return exc.to_response()

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        details = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in errors
        ]
        return JSONResponse(error_body("validation_error", "request failed validation", details=details), 422)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


async def _run_check(check: ReadyCheck, timeout: float) -> dict[str, str]:
    try:
        await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return {"status": "down", "error": f"no answer within {timeout}s"}
    except Exception as exc:
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {"status": "ok"}


def _install_health(
    app: FastAPI,
    settings: Settings,
    ready_checks: Mapping[str, ReadyCheck],
    soft_checks: Mapping[str, ReadyCheck],
    metrics: ServiceMetrics,
) -> None:
    deps_aware = settings.switches.on(Switch.HEALTH_DEPS)
    timeout = settings.tunables.health_check_timeout

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": metrics.service}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> Response:
        if not deps_aware:
            return JSONResponse({"status": "ok"})  # what the reports found: "up" whatever the dependencies
        names = [*ready_checks, *soft_checks]
        checks = [*ready_checks.values(), *soft_checks.values()]
        results = dict(
            zip(names, await asyncio.gather(*(_run_check(c, timeout) for c in checks)), strict=True)
        )
        hard_down = [n for n in ready_checks if results[n]["status"] != "ok"]
        soft_down = [n for n in soft_checks if results[n]["status"] != "ok"]
        for name in soft_checks:
            results[name]["soft"] = "true"
        if hard_down:
            return JSONResponse({"status": "unavailable", "checks": results}, status_code=503)
        if soft_down:
            response = JSONResponse({"status": "degraded", "checks": results})
            mark_degraded(",".join(f"{n}_unavailable" for n in soft_down))
            return response
        return JSONResponse({"status": "ok", "checks": results})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_service_app(
    settings: Settings,
    *,
    name: str,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    soft_checks: Mapping[str, ReadyCheck] | None = None,
    lifespan: Lifespan | None = None,
    metrics: ServiceMetrics | None = None,
    inner_middleware: Sequence[Middleware] = (),
) -> FastAPI:
    """A FastAPI app with the shared error handling, middleware, health and metrics endpoints.

    `inner_middleware` runs inside the service middleware (so it is measured, timed out and marked
    like any route), outermost first; the gateway uses it for its proxy fast path.

    `ready_checks` are hard dependencies (one failing makes /health/ready 503 when HEALTH_DEPS is on);
    `soft_checks` are reported but only mark readiness degraded. Pass the `metrics` the service's own
    components already use, so that everything lands on one registry (available as `app.state.metrics`).
    """
    metrics = metrics or ServiceMetrics(name)
    kwargs: dict[str, Any] = {"lifespan": lifespan} if lifespan is not None else {}
    app = FastAPI(title=f"secureconnect-{name}", docs_url=None, redoc_url=None, openapi_url=None, **kwargs)
    app.state.settings = settings
    app.state.metrics = metrics
    _install_error_handlers(app)
    _install_health(app, settings, ready_checks or {}, soft_checks or {}, metrics)
    for layer in reversed(inner_middleware):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    timeout = settings.tunables.request_timeout if settings.switches.on(Switch.REQUEST_TIMEOUT) else None
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        request_timeout=timeout,
        max_body_bytes=settings.tunables.max_body_bytes,
    )
    return app
