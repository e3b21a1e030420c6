"""The chat service's HTTP and WebSocket routes under /v1/chat."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, WebSocket
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from target_system.chat.fanout import compact_json
from target_system.chat.ids import parse_uuid
from target_system.chat.models import (
    MAX_BODY_CHARS,
    ConversationIn,
    MessageIn,
    Poll,
    PollIn,
    VoteIn,
)
from target_system.chat.presence import MAX_QUERIED_USERS
from target_system.chat.service import ChatService
from target_system.chat.sockets import serve_socket
from target_system.common.degraded import mark_degraded
from target_system.common.errors import BadRequest, NotFound, TooLarge
from target_system.common.tokens import CurrentUser

_log = logging.getLogger(__name__)

PUBSUB_DEGRADED = "pubsub_unavailable"
HISTORY_DEGRADED = "message_store_unavailable"


async def _current_user(connection: HTTPConnection) -> CurrentUser:
    chat: ChatService = connection.app.state.chat
    return await chat.auth.require_user(connection)


# Module level, so FastAPI can resolve the (postponed) annotation of every route.
User = Annotated[CurrentUser, Depends(_current_user)]


def _conversation_id(text: str) -> uuid.UUID:
    parsed = parse_uuid(text)
    if parsed is None:
        raise NotFound("no such conversation")
    return parsed


def _cursor(text: str | None, name: str) -> uuid.UUID | None:
    if text is None or text == "":
        return None
    parsed = parse_uuid(text)
    if parsed is None:
        raise BadRequest(f"{name} must be a message id (a cursor returned by this API)")
    return parsed


def build_router(chat: ChatService) -> APIRouter:
    """All routes, closed over the service's root object."""
    router = APIRouter(prefix="/v1/chat")
    _conversation_routes(router, chat)
    _message_routes(router, chat)
    _presence_routes(router, chat)
    _poll_routes(router, chat)

    @router.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        await serve_socket(socket, chat)

    return router


async def _publish_or_degrade(chat: ChatService, what: str, publish: Callable[[], Awaitable[None]]) -> None:
    """Fan-out after a durable write: with POLLING_FALLBACK a failure only marks the answer degraded."""
    if chat.policy.polling_fallback and chat.redis.recently_down:
        # Redis failed moments ago: skip the call (and its retries) and let clients poll.
        chat.metrics.publish_failures.inc()
        mark_degraded(PUBSUB_DEGRADED)
        return
    try:
        await publish()
    except Exception as exc:
        chat.metrics.publish_failures.inc()
        if not chat.policy.polling_fallback:
            raise
        _log.info("%s fan-out failed, clients fall back to polling: %r", what, exc)
        mark_degraded(PUBSUB_DEGRADED)


def _conversation_routes(router: APIRouter, chat: ChatService) -> None:
    """Creating a conversation and listing one's own."""

    @router.post("/conversations", status_code=201)
    async def create_conversation(body: ConversationIn, user: User) -> JSONResponse:
        conversation = await chat.conversations.create(body, user.user_id)
        await _publish_or_degrade(chat, "conversation", lambda: chat.fanout.conversation(conversation))
        return JSONResponse(conversation.to_json(), status_code=201)

    @router.get("/conversations")
    async def my_conversations(user: User) -> JSONResponse:
        conversations = await chat.conversations.mine(user.user_id)
        return JSONResponse({"conversations": [c.to_json() for c in conversations]})


def _message_routes(router: APIRouter, chat: ChatService) -> None:
    """Sending a message, reading history, and polling for new messages (the fallback of the socket)."""

    @router.post("/conversations/{conversation_id}/messages", status_code=201)
    async def send_message(conversation_id: str, body: MessageIn, user: User) -> Response:
        if len(body.body) > MAX_BODY_CHARS:
            raise TooLarge(f"message body exceeds {MAX_BODY_CHARS} characters", code="message_too_large")
        cid = _conversation_id(conversation_id)
        await chat.conversations.require_member(cid, user.user_id)
        # PERSIST_FIRST: stored by now; off: only queued for the write-behind, broadcast and answered anyway.
        appended = await chat.sender.accept(cid, user.user_id, body.body, body.idempotency_key)
        if not appended.created and appended.message.sender_id != user.user_id:
            raise BadRequest("idempotency key already used by another sender", code="idempotency_key_reused")
        # A retry publishes again: if the first attempt stored but failed to publish, this delivers it.
        message_json = compact_json(appended.message.to_json())
        await _publish_or_degrade(
            chat, "message", lambda: chat.fanout.message(appended.message, message_json)
        )
        return Response(
            message_json, status_code=201 if appended.created else 200, media_type="application/json"
        )

    @router.get("/conversations/{conversation_id}/messages")
    async def history(
        conversation_id: str,
        user: User,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        before: str | None = None,
    ) -> JSONResponse:
        cid = _conversation_id(conversation_id)
        cursor = _cursor(before, "before")
        await chat.conversations.require_member(cid, user.user_id)
        page, from_cache = await chat.messages.history(cid, before=cursor, limit=limit)
        if from_cache:
            mark_degraded(HISTORY_DEGRADED)
        return JSONResponse(page.to_json())

    @router.get("/conversations/{conversation_id}/poll")
    async def poll_messages(
        conversation_id: str,
        user: User,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
    ) -> JSONResponse:
        cid = _conversation_id(conversation_id)
        cursor = _cursor(after, "after")
        await chat.conversations.require_member(cid, user.user_id)
        messages, from_cache = await chat.messages.after(cid, after=cursor, limit=limit)
        if from_cache:
            mark_degraded(HISTORY_DEGRADED)
        next_after = str(messages[-1].id) if messages else (str(cursor) if cursor else None)
        return JSONResponse({"messages": [m.to_json() for m in messages], "next_after": next_after})


def _presence_routes(router: APIRouter, chat: ChatService) -> None:
    """The presence heartbeat and who is online."""

    @router.post("/presence")
    async def heartbeat(user: User) -> JSONResponse:
        recorded = await chat.presence.heartbeat(user.user_id)
        return JSONResponse({"user_id": user.user_id, "online": recorded, "ttl": chat.presence.ttl})

    @router.get("/presence")
    async def presence(user: User, users: str = "") -> JSONResponse:
        wanted = list(dict.fromkeys(u.strip() for u in users.split(",") if u.strip()))
        if len(wanted) > MAX_QUERIED_USERS:
            raise BadRequest(f"ask about at most {MAX_QUERIED_USERS} users at once")
        answer = await chat.presence.online(wanted)
        return JSONResponse({"online": answer.online, "unknown": answer.degraded})


def _poll_routes(router: APIRouter, chat: ChatService) -> None:
    """Polls in a conversation: creating one, voting, reading its tally."""

    @router.post("/conversations/{conversation_id}/polls", status_code=201)
    async def create_poll(conversation_id: str, body: PollIn, user: User) -> JSONResponse:
        cid = _conversation_id(conversation_id)
        await chat.conversations.require_member(cid, user.user_id)
        poll = await chat.polls.create(cid, user.user_id, body)
        return JSONResponse(poll.to_json(), status_code=201)

    @router.post("/polls/{poll_id}/votes", status_code=201)
    async def vote(poll_id: str, body: VoteIn, user: User) -> JSONResponse:
        poll = await _poll_for_member(poll_id, user)
        cast = await chat.polls.vote(poll, user.user_id, body)
        tally = await chat.polls.get(poll.id)
        return JSONResponse(
            {**cast.vote.to_json(), "poll": tally.to_json()}, status_code=201 if cast.created else 200
        )

    @router.get("/polls/{poll_id}")
    async def get_poll(poll_id: str, user: User) -> JSONResponse:
        poll = await _poll_for_member(poll_id, user)
        return JSONResponse(poll.to_json())

    async def _poll_for_member(poll_id: str, user: CurrentUser) -> Poll:
        parsed = parse_uuid(poll_id)
        if parsed is None:
            raise NotFound("no such poll")
        poll = await chat.polls.get(parsed)
        await chat.conversations.require_member(poll.conversation_id, user.user_id)
        return poll
