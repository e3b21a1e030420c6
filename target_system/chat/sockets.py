"""One chat WebSocket: authenticate, admit under the caps, route through the hub, serve pings and typing,
and close it (1008) when its token expires or is revoked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from target_system.chat.ids import parse_uuid
from target_system.common.errors import RateLimited, ServiceError
from target_system.common.tokens import CurrentUser
from target_system.common.wsgate import authority_ends

if TYPE_CHECKING:
    from target_system.chat.service import ChatService

_log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded, reconnect later
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011


class ClientSocket:
    """The hub's handle on one WebSocket: `deliver` only enqueues; a writer task does the sending.

    `queue_limit` 0 means unbounded; a full queue drops the socket (WS_CAP on: `SC_CHAT_SEND_QUEUE`, off:
    the unfixed code's 1000-message send channel, `SC_LEGACY_WS_BUFFER`).
    """

    def __init__(self, websocket: WebSocket, user_id: str, *, queue_limit: int) -> None:
        self.user_id = user_id
        self._websocket = websocket
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_limit)
        self.overflowed = asyncio.Event()

    def deliver(self, text: str) -> None:
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()

    def send_json(self, event: dict[str, Any]) -> None:
        self.deliver(json.dumps(event, separators=(",", ":")))

    async def write_forever(self) -> None:
        while True:
            text = await self._queue.get()
            await self._websocket.send_text(text)


@dataclass(frozen=True, slots=True)
class Ending:
    """How a session ends: the close code to send, or None when the client already went away."""

    code: int | None
    reason: str = ""


async def serve_socket(websocket: WebSocket, chat: ChatService) -> None:
    """The whole life of one `/v1/chat/ws` connection."""
    try:
        user = await chat.auth.authenticate(websocket.query_params.get("token") or "")
    except ServiceError as exc:
        await _deny(websocket, exc)
        return
    if not chat.user_sockets.try_enter(user.user_id):
        cap = chat.user_sockets.cap
        await _deny(websocket, RateLimited(f"at most {cap} WebSockets per user", code="too_many_sockets"))
        return
    if not chat.gate.try_enter():
        chat.user_sockets.leave(user.user_id)
        chat.metrics.ws_rejected.inc()
        await websocket.accept()
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="try again later")
        return
    chat.metrics.ws_connections.inc()
    socket = ClientSocket(websocket, user.user_id, queue_limit=chat.send_queue_limit)
    try:
        await websocket.accept()
        ending = await _run_session(websocket, socket, user, chat)
    except WebSocketDisconnect:
        ending = Ending(None)
    except Exception:
        _log.exception("chat WebSocket of %s failed", user.user_id)
        ending = Ending(CLOSE_INTERNAL, "internal error")
    finally:
        await chat.hub.leave(socket)
        chat.metrics.ws_connections.dec()
        chat.gate.leave()
        chat.user_sockets.leave(user.user_id)
    if ending.code is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=ending.code, reason=ending.reason), 1.0)


async def _deny(websocket: WebSocket, exc: ServiceError) -> None:
    # An HTTP answer to the handshake tells the client why; servers without the denial extension get 1008.
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(exc.to_response())
    else:
        await websocket.close(code=CLOSE_POLICY, reason=exc.message[:120])


async def _run_session(
    websocket: WebSocket, socket: ClientSocket, user: CurrentUser, chat: ChatService
) -> Ending:
    await chat.presence.heartbeat(socket.user_id)
    conversation_ids = await chat.conversations.ids_of(socket.user_id)
    writer = asyncio.create_task(socket.write_forever())
    await chat.hub.join(socket, conversation_ids)
    # Tells the client its subscriptions are live: messages sent from now on will arrive.
    socket.send_json(
        {"type": "ready", "user_id": socket.user_id, "conversations": [str(c) for c in conversation_ids]}
    )
    authority = asyncio.create_task(authority_ends(chat.auth.revocations, user))
    tasks = {
        writer,
        authority,
        asyncio.create_task(_read_forever(websocket, socket, chat)),
        asyncio.create_task(_heartbeat_forever(socket, chat)),
        asyncio.create_task(socket.overflowed.wait()),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if socket.overflowed.is_set():
        chat.metrics.ws_dropped.inc()
        return Ending(CLOSE_POLICY, "slow consumer: send queue overflow")
    if authority in done:
        return Ending(CLOSE_POLICY, authority.result())  # logged out, or the token expired
    for task in done:
        exc = task.exception()
        if isinstance(exc, WebSocketDisconnect):
            return Ending(None)
        if exc is not None:
            raise exc
    return Ending(None)


async def _heartbeat_forever(socket: ClientSocket, chat: ChatService) -> None:
    while True:
        await asyncio.sleep(chat.presence.ttl / 3)
        await chat.presence.heartbeat(socket.user_id)


async def _read_forever(websocket: WebSocket, socket: ClientSocket, chat: ChatService) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            socket.send_json(_error("bad_request", "send JSON text frames"))
            continue
        await _on_client_event(text, socket, chat)


async def _on_client_event(text: str, socket: ClientSocket, chat: ChatService) -> None:
    try:
        event = json.loads(text)
    except ValueError:
        socket.send_json(_error("malformed_json", "frame is not valid JSON"))
        return
    kind = event.get("type") if isinstance(event, dict) else None
    if kind == "ping":
        await chat.presence.heartbeat(socket.user_id)
        socket.send_json({"type": "pong"})
    elif kind == "typing":
        conversation_id = parse_uuid(str(event.get("conversation_id", "")))
        if conversation_id is None or not chat.hub.is_routed(socket, conversation_id):
            socket.send_json(_error("forbidden", "not a conversation of yours"))
            return
        try:
            await chat.fanout.typing(conversation_id, socket.user_id)
        except Exception as exc:  # typing is ephemeral: losing it is not worth the socket
            _log.info("typing relay failed: %r", exc)
    else:
        socket.send_json(_error("bad_request", "unknown event type; expected ping or typing"))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}
