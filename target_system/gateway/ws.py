"""Relaying WebSockets through the gateway: one backend connection per client, close codes kept.

The handshake goes through the same rules as HTTP: rate limit, breaker, proxy timeout (on the backend
handshake only: an open WebSocket lives as long as its users want). A backend that refuses the
upgrade has its HTTP answer passed back to the client (denial response). WS_CAP bounds the relayed
connections per backend in each gateway process (a bulkhead: a chat flood cannot take video
signaling's share); past it the handshake gets a clean 503 `ws_capacity`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from target_system.common.errors import ServiceError, error_response
from target_system.common.metrics import ServiceMetrics
from target_system.common.wsgate import SocketGate
from target_system.gateway.forward import HOP_BY_HOP, Forwarder, raw_path
from target_system.gateway.routes import Backend
from target_system.settings import Settings
from target_system.switches import Switch

# Handshake headers websockets writes itself; forwarding them would duplicate or break the upgrade.
_HANDSHAKE_HEADERS = HOP_BY_HOP | {
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
}


def sendable_close_code(code: int | None) -> int:
    """A close code that may be sent on the wire (1005/1006/1015 are reserved for reporting)."""
    if code is None or code == 1005:
        return 1000
    if code in (1006, 1015):
        return 1011
    return code


async def deny(websocket: WebSocket, response: Response, fallback_close: int) -> None:
    """Refuse a handshake with an HTTP answer where the server supports it, else with a close code."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=fallback_close)


class WebSocketRelay:
    """Accepts client WebSockets and pumps frames to and from the backend."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, forwarder: Forwarder) -> None:
        self._forwarder = forwarder
        self._cap: int | None = settings.tunables.ws_cap if settings.switches.on(Switch.WS_CAP) else None
        self._open_timeout: float | None = forwarder.timeout
        self._gates: dict[str, SocketGate] = {}
        self._gauge = metrics.gauge(
            "gateway_ws_connections", "WebSockets relayed right now", ("service", "backend")
        )
        self._rejected = metrics.counter(
            "gateway_ws_rejected_total", "WebSocket handshakes refused by the gateway", ("service", "reason")
        )
        self._service = metrics.service

    async def serve(self, websocket: WebSocket, backend: Backend) -> None:
        gate = self._gates.setdefault(backend.name, SocketGate(self._cap))
        gauge = self._gauge.labels(self._service, backend.name)
        if not gate.try_enter():
            self._rejected.labels(self._service, "capacity").inc()
            await deny(
                websocket,
                error_response(503, "ws_capacity", f"too many WebSocket connections to {backend.name!r}"),
                1013,
            )
            return
        gauge.set(gate.open)
        try:
            upstream = await self._open_backend(websocket, backend)
            if upstream is None:
                return
            async with upstream:
                await websocket.accept(subprotocol=upstream.subprotocol)
                await self._pump(websocket, upstream)
        finally:
            gate.leave()
            gauge.set(gate.open)

    async def _open_backend(self, websocket: WebSocket, backend: Backend) -> ClientConnection | None:
        """The backend connection, or None after the client has been refused."""
        breaker = self._forwarder.breakers.get(backend.name)
        try:
            if breaker is not None:
                breaker.before_call()
        except ServiceError as exc:
            self._rejected.labels(self._service, exc.code).inc()
            await deny(websocket, exc.to_response(), 1013)
            return None
        url, headers, protocols = _backend_handshake(websocket, backend)
        verdict: bool | None = None
        try:
            upstream = await connect(
                url,
                additional_headers=headers,
                subprotocols=protocols,
                open_timeout=self._open_timeout,
                ping_interval=None,  # the client and the backend keep their own keep-alives
                close_timeout=2.0,
                max_size=None,
                proxy=None,
                user_agent_header=None,  # the client's own User-Agent is among the relayed headers
            )
            verdict = True
            return upstream
        except InvalidStatus as exc:
            verdict = exc.response.status_code < 500
            await self._refused(websocket, exc)
            return None
        except (TimeoutError, OSError, InvalidHandshake) as exc:
            verdict = False
            await self._unreachable(websocket, backend, exc)
            return None
        finally:
            if breaker is not None:
                if verdict is None:
                    breaker.release()
                elif verdict:
                    breaker.record_success()
                else:
                    breaker.record_failure()

    async def _refused(self, websocket: WebSocket, exc: InvalidStatus) -> None:
        """The backend answered the handshake with an HTTP status: the client gets that answer."""
        self._rejected.labels(self._service, f"backend_{exc.response.status_code}").inc()
        denied = Response(
            content=bytes(exc.response.body or b""),
            status_code=exc.response.status_code,
            media_type=exc.response.headers.get("content-type", "application/json"),
        )
        await deny(websocket, denied, 1008 if exc.response.status_code < 500 else 1011)

    async def _unreachable(self, websocket: WebSocket, backend: Backend, exc: Exception) -> None:
        """The backend gave no handshake in time, or none at all: a 504 or 503 for the client."""
        timed_out = isinstance(exc, TimeoutError)
        self._rejected.labels(self._service, "backend_timeout" if timed_out else "backend_unavailable").inc()
        code, status = ("backend_timeout", 504) if timed_out else ("backend_unavailable", 503)
        await deny(websocket, error_response(status, code, f"backend {backend.name!r}: {exc}"[:200]), 1011)

    async def _pump(self, websocket: WebSocket, upstream: ClientConnection) -> None:
        to_backend = asyncio.create_task(self._client_to_backend(websocket, upstream))
        to_client = asyncio.create_task(self._backend_to_client(websocket, upstream))
        try:
            await asyncio.wait({to_backend, to_client}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_backend, to_client):
                task.cancel()
            for task in (to_backend, to_client):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @staticmethod
    async def _client_to_backend(websocket: WebSocket, upstream: ClientConnection) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = sendable_close_code(message.get("code"))
                await upstream.close(code=code, reason=message.get("reason") or "")
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    @staticmethod
    async def _backend_to_client(websocket: WebSocket, upstream: ClientConnection) -> None:
        try:
            async for data in upstream:
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)
        except ConnectionClosed:
            pass
        except WebSocketDisconnect:
            return
        code = sendable_close_code(upstream.close_code)
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=upstream.close_reason or "")


def _backend_handshake(websocket: WebSocket, backend: Backend) -> tuple[str, list[tuple[str, str]], Any]:
    """The backend's URL for this socket, the client's headers to relay, and its subprotocols."""
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    url = backend.ws_base_url + raw_path(websocket.scope) + (f"?{query}" if query else "")
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in websocket.scope["headers"]
        if k not in _HANDSHAKE_HEADERS and k != b"origin"
    ]
    if websocket.client is not None:
        headers.append(("x-forwarded-for", websocket.client.host))
    protocols: Any = list(websocket.scope.get("subprotocols", ())) or None
    return url, headers, protocols
