"""One signaling WebSocket: authenticate, admit under the caps, relay offer/answer/ice between participants,
and close it (1008) when its token expires or is revoked.

Frames from the client: `{"type": "offer"|"answer"|"ice", "call_id", "to"?, "payload"}` (to one
participant, or without `to` to every other participant who has not left) and `{"type": "ping"}`.
Frames to the client: `ready` once its channel is subscribed, the relayed signals
(`{"type", "call_id", "from", "payload"}`), `call` events, `pong` and `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from redis.asyncio.client import PubSub
from starlette.websockets import WebSocket, WebSocketDisconnect

from target_system.common.errors import RateLimited, ServiceError
from target_system.common.redis import TRANSIENT_ERRORS
from target_system.common.tokens import CurrentUser
from target_system.common.wsgate import authority_ends
from target_system.video.models import Call, CallStatus, ParticipantState, SignalKind
from target_system.video.notify import user_channel

if TYPE_CHECKING:
    from target_system.video.service import VideoService

_log = logging.getLogger(__name__)

CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013
SUBSCRIBE_ACK_TIMEOUT = 2.0
CALL_CACHE_TTL = 2.0  # ICE candidates come in bursts: one participant lookup serves a burst
MAX_FRAME_CHARS = 64 * 1024


class SignalingError(Exception):
    """A frame the server refuses; the socket stays open and gets an `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"code": code, "message": message}})


async def serve_socket(websocket: WebSocket, video: VideoService) -> None:
    """The whole life of one `/v1/video/ws` connection."""
    try:
        user = await video.auth.authenticate(websocket.query_params.get("token") or "")
    except ServiceError as exc:
        await _deny(websocket, exc)
        return
    if not video.user_sockets.try_enter(user.user_id):
        cap = video.user_sockets.cap
        await _deny(websocket, RateLimited(f"at most {cap} WebSockets per user", code="too_many_sockets"))
        return
    if not video.gate.try_enter():
        video.user_sockets.leave(user.user_id)
        video.metrics.ws_rejected.inc()
        await websocket.accept()
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="try again later")
        return
    video.metrics.ws_connections.inc()
    close: tuple[int, str] | None = None
    try:
        await websocket.accept()
        close = await Session(websocket, user, video).run()
    except WebSocketDisconnect:
        close = None
    except Exception:
        _log.exception("signaling WebSocket of %s failed", user.user_id)
        close = (CLOSE_INTERNAL, "internal error")
    finally:
        video.metrics.ws_connections.dec()
        video.gate.leave()
        video.user_sockets.leave(user.user_id)
    if close is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=close[0], reason=close[1]), 1.0)


async def _deny(websocket: WebSocket, exc: ServiceError) -> None:
    # An HTTP answer to the handshake tells the client why; servers without the denial extension get 1008.
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(exc.to_response())
    else:
        await websocket.close(code=CLOSE_POLICY, reason=exc.message[:120])


class Session:
    """One connected user: their channel's messages go to the socket, their frames go to peers."""

    def __init__(self, websocket: WebSocket, user: CurrentUser, video: VideoService) -> None:
        self._websocket = websocket
        self._user = user
        self.user_id = user.user_id
        self._video = video
        self._calls: dict[uuid.UUID, tuple[float, Call]] = {}

    async def run(self) -> tuple[int, str] | None:
        """Serve until either side goes away; the close code to send, or None if the client left."""
        pubsub = self._video.redis.client.pubsub()
        try:
            try:
                await self._subscribe(pubsub)
            except ServiceError as exc:
                return CLOSE_TRY_AGAIN_LATER, exc.message[:120]
            await self._websocket.send_text(json.dumps({"type": "ready", "user_id": self.user_id}))
            listen = asyncio.create_task(self._listen(pubsub))
            read = asyncio.create_task(self._read())
            authority = asyncio.create_task(authority_ends(self._video.auth.revocations, self._user))
            done, pending = await asyncio.wait({listen, read, authority}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if authority in done:
                return CLOSE_POLICY, authority.result()  # logged out, or the token expired
            for task in done:
                failure = task.exception()
                if isinstance(failure, WebSocketDisconnect):
                    return None
                if isinstance(failure, TRANSIENT_ERRORS):
                    return CLOSE_TRY_AGAIN_LATER, "signaling relay unavailable"
                if failure is not None:
                    raise failure
            return None
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _subscribe(self, pubsub: PubSub) -> None:
        channel = user_channel(self.user_id)
        await self._video.redis.call("subscribe", lambda _: pubsub.subscribe(channel))
        # Wait for Redis's confirmation, so that `ready` means "signals sent from now on arrive".
        deadline = time.monotonic() + SUBSCRIBE_ACK_TIMEOUT
        while time.monotonic() < deadline:
            message = await self._video.redis.call(
                "subscribe", lambda _: pubsub.get_message(timeout=0.2), retry=False
            )
            if message is not None and message.get("type") == "subscribe":
                return

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message.get("type") == "message":
                await self._websocket.send_text(str(message["data"]))

    async def _read(self) -> None:
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None or len(text) > MAX_FRAME_CHARS:
                await self._websocket.send_text(_error("bad_request", "send JSON text frames up to 64 KiB"))
                continue
            try:
                reply = await self._on_frame(text)
            except SignalingError as exc:
                self._video.metrics.signals_refused.inc()
                reply = _error(exc.code, exc.message)
            except ServiceError as exc:  # SQL or Redis down: this frame is lost, the socket stays
                reply = _error(exc.code, exc.message)
            if reply is not None:
                await self._websocket.send_text(reply)

    async def _on_frame(self, text: str) -> str | None:
        try:
            frame = json.loads(text)
        except ValueError:
            raise SignalingError("malformed_json", "frame is not valid JSON") from None
        if not isinstance(frame, dict):
            raise SignalingError("bad_request", "a frame is a JSON object")
        kind = frame.get("type")
        if kind == "ping":
            return json.dumps({"type": "pong"})
        try:
            signal = SignalKind(str(kind))
        except ValueError:
            raise SignalingError("bad_request", "unknown type; expected offer, answer, ice or ping") from None
        targets, call_id = await self._targets(frame)
        event: dict[str, Any] = {
            "type": signal.value,
            "call_id": str(call_id),
            "from": self.user_id,
            "payload": frame.get("payload"),
        }
        await self._video.notifier.publish(targets, event)
        self._video.metrics.signals_relayed.inc()
        return None

    async def _targets(self, frame: dict[str, Any]) -> tuple[list[str], uuid.UUID]:
        try:
            call_id = uuid.UUID(str(frame.get("call_id", "")))
        except ValueError:
            raise SignalingError("bad_request", "call_id must be a call id") from None
        call = await self._call(call_id)
        if call is None or not call.is_participant(self.user_id):
            raise SignalingError("forbidden", "not a call of yours")
        if call.status is CallStatus.ENDED:
            raise SignalingError("call_ended", "the call has ended")
        to = frame.get("to")
        if to is not None:
            if not isinstance(to, str) or to == self.user_id or not call.is_participant(to):
                raise SignalingError("bad_request", "`to` must be another participant of the call")
            return [to], call_id
        others = [
            p.user_id
            for p in call.participants
            if p.user_id != self.user_id and p.state is not ParticipantState.LEFT
        ]
        return others, call_id

    async def _call(self, call_id: uuid.UUID) -> Call | None:
        cached = self._calls.get(call_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            call = await self._video.calls.get(call_id)
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise
        self._calls[call_id] = (time.monotonic() + CALL_CACHE_TTL, call)
        return call
