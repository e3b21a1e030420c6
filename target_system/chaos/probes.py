"""SecureConnect's probe flows: the user flows behind each feature (its ledger writers: writers.py).

Registered under the `chaosgate.probes` entry point group as `secureconnect`; another system ships
its own plugin the same way and names it in its chaos.yaml.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chaosgate.errors import ProbeError
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.outcome import PROBE_DETAIL, worst
from chaosgate.scoring import ProbeOutcome

PASSWORD = "chaosgate-probe-password-1"


def auth(ctx: ProbeContext, who: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx.state[who]['access_token']}"}


async def _register_and_login(ctx: ProbeContext, who: str) -> dict[str, Any]:
    email = f"{who}-{uuid.uuid4().hex[:10]}@probe.chaosgate.test"
    registered = await ctx.http.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": who}
    )
    if registered.status_code != 201:
        raise ProbeError(
            f"setup: registering a probe user failed: {registered.status_code} {registered.text[:200]}"
        )
    login = await ctx.http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    if login.status_code != 200:
        raise ProbeError(f"setup: logging the probe user in failed: {login.status_code} {login.text[:200]}")
    return {"email": email, **login.json()}


async def relogin(ctx: ProbeContext, who: str) -> None:
    """A fresh session for `who`: read-back must not depend on a session the fault may have ended."""
    login = await ctx.http.post(
        "/v1/auth/login", json={"email": ctx.state[who]["email"], "password": PASSWORD}
    )
    if login.status_code != 200:
        raise ProbeError(
            f"logging {who} in again for read-back failed: {login.status_code} {login.text[:200]}"
        )
    ctx.state[who].update(login.json())


async def setup(ctx: ProbeContext) -> None:
    """Two users, a conversation between them and a poll: what the probes act on."""
    # carol's refresh token rotates at every refresh probe, so nobody else depends on her session.
    for who in ("alice", "bob", "carol"):
        ctx.state[who] = await _register_and_login(ctx, who)
    created = await ctx.http.post(
        "/v1/chat/conversations",
        json={"members": [ctx.state["bob"]["user_id"]], "title": "probes", "kind": "group"},
        headers=auth(ctx),
    )
    if created.status_code != 201:
        raise ProbeError(
            f"setup: creating the probe conversation failed: {created.status_code} {created.text[:200]}"
        )
    ctx.state["conversation"] = created.json()["id"]
    poll = await ctx.http.post(
        f"/v1/chat/conversations/{ctx.state['conversation']}/polls",
        json={"question": "ready?", "options": ["yes", "no"]},
        headers=auth(ctx),
    )
    if poll.status_code != 201:
        raise ProbeError(f"setup: creating the probe poll failed: {poll.status_code} {poll.text[:200]}")
    ctx.state["poll"] = poll.json()["id"]
    if "storage" in ctx.services:
        stored = await ctx.http.post(
            "/v1/storage/files?name=probe.txt", content=b"chaosgate probe file", headers=auth(ctx)
        )
        if stored.status_code != 201:
            raise ProbeError(
                f"setup: uploading the probe file failed: {stored.status_code} {stored.text[:200]}"
            )
        ctx.state["file"] = stored.json()["id"]
    if "push-provider" in ctx.services:
        # alice's phone: every message bob sends in the probe conversation notifies it.
        ctx.state["device"] = f"probe-device-{uuid.uuid4().hex[:12]}"
        device = await ctx.http.post(
            "/v1/push/devices", json={"token": ctx.state["device"], "platform": "android"}, headers=auth(ctx)
        )
        if device.status_code != 201:
            raise ProbeError(
                f"setup: registering the probe device failed: {device.status_code} {device.text[:200]}"
            )


async def register(ctx: ProbeContext) -> ProbeOutcome:
    email = f"probe-{uuid.uuid4().hex}@probe.chaosgate.test"
    body = {"email": email, "password": PASSWORD, "display_name": "probe"}
    return ctx.classify(await ctx.http.post("/v1/auth/register", json=body))


async def login(ctx: ProbeContext) -> ProbeOutcome:
    body = {"email": ctx.state["alice"]["email"], "password": PASSWORD}
    return ctx.classify(await ctx.http.post("/v1/auth/login", json=body))


async def refresh(ctx: ProbeContext) -> ProbeOutcome:
    # Refresh tokens rotate: keep the newest one, or the next probe would use a spent token. carol
    # is the only user refreshed, so no other probe or writer depends on her session.
    token = ctx.state["carol"]["refresh_token"]
    response = await ctx.http.post("/v1/auth/refresh", json={"refresh_token": token})
    if 200 <= response.status_code < 300:
        ctx.state["carol"].update(response.json())
    elif response.status_code == 401:
        await relogin(ctx, "carol")  # as a user would; this sample still counts as the error it was
    return ctx.classify(response)


async def me(ctx: ProbeContext) -> ProbeOutcome:
    return ctx.classify(await ctx.http.get("/v1/auth/me", headers=auth(ctx)))


async def send(ctx: ProbeContext) -> ProbeOutcome:
    body = {"body": "probe", "idempotency_key": f"probe-{uuid.uuid4().hex}"}
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
    return ctx.classify(await ctx.http.post(path, json=body, headers=auth(ctx)))


async def history(ctx: ProbeContext) -> ProbeOutcome:
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages?limit=20"
    return ctx.classify(await ctx.http.get(path, headers=auth(ctx)))


async def poll(ctx: ProbeContext) -> ProbeOutcome:
    return ctx.classify(await ctx.http.get(f"/v1/chat/polls/{ctx.state['poll']}", headers=auth(ctx)))


async def presence(ctx: ProbeContext) -> ProbeOutcome:
    beat = await ctx.http.post("/v1/chat/presence", headers=auth(ctx))
    if not 200 <= beat.status_code < 300:
        return ctx.classify(beat)
    query = await ctx.http.get(f"/v1/chat/presence?users={ctx.state['alice']['user_id']}", headers=auth(ctx))
    return worst([ctx.classify(beat), ctx.classify(query)])


async def chat_ws(ctx: ProbeContext) -> ProbeOutcome:
    """bob's chat WebSocket hears what alice sends: connect, wait for `ready`, send over HTTP, wait for it.

    A send marked degraded (pub/sub down, POLLING_FALLBACK) tells clients to poll: found by polling, the
    message is a degraded sample. Never delivered, it is a hang (the probe timeout bounds the wait)."""
    token = ctx.state["bob"]["access_token"]
    url = ctx.gateway_url.replace("http://", "ws://", 1) + f"/v1/chat/ws?token={token}"
    key = f"ws-{uuid.uuid4().hex}"
    conversation = ctx.state["conversation"]
    try:
        async with websockets.connect(url, open_timeout=ctx.timeout_s, close_timeout=0.5) as socket:
            await _next_event(socket, lambda e: e.get("type") == "ready")
            sent = await ctx.http.post(
                f"/v1/chat/conversations/{conversation}/messages",
                json={"body": "ws probe", "idempotency_key": key},
                headers=auth(ctx),
            )
            outcome = ctx.classify(sent)
            if outcome is ProbeOutcome.DEGRADED:
                PROBE_DETAIL.set("read by polling")
                found = key in await _polled_keys(ctx, conversation)
                return ProbeOutcome.DEGRADED if found else ProbeOutcome.ERROR
            if outcome is not ProbeOutcome.SERVED:
                return outcome
            await _next_event(socket, lambda e: e.get("type") == "message" and _key_of(e) == key)
            return ProbeOutcome.SERVED
    except (InvalidStatus, ConnectionClosed) as exc:
        return _socket_refusal(exc)


def _socket_refusal(exc: InvalidStatus | ConnectionClosed) -> ProbeOutcome:
    """A WebSocket the gateway refused: clean (429/503 handshake, close 1013/1008) or an error."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        PROBE_DETAIL.set(f"handshake HTTP {status}")
        return ProbeOutcome.REJECTED if status in (429, 503) else ProbeOutcome.ERROR
    code = exc.rcvd.code if exc.rcvd else None
    PROBE_DETAIL.set(f"closed with code {code}")
    return ProbeOutcome.REJECTED if code in (1013, 1008) else ProbeOutcome.ERROR


async def _next_event(socket: Any, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        event = json.loads(await socket.recv())
        if isinstance(event, dict) and wanted(event):
            return event


def _key_of(event: dict[str, Any]) -> object:
    message = event.get("message")
    return message.get("idempotency_key") if isinstance(message, dict) else None


async def _polled_keys(ctx: ProbeContext, conversation: str) -> set[str]:
    """Idempotency keys of the latest messages bob can poll (the fallback clients use without pub/sub)."""
    polled = await ctx.http.get(f"/v1/chat/conversations/{conversation}/poll", headers=auth(ctx, "bob"))
    if polled.status_code != 200:
        return set()
    return {str(m.get("idempotency_key")) for m in polled.json().get("messages", [])}


async def _ws_round_trip(ctx: ProbeContext, path: str) -> ProbeOutcome:
    url = (
        ctx.gateway_url.replace("http://", "ws://", 1) + f"{path}?token={ctx.state['alice']['access_token']}"
    )
    try:
        async with websockets.connect(url, open_timeout=ctx.timeout_s, close_timeout=0.5) as socket:
            await socket.send('{"type": "ping"}')
            while True:
                reply = await socket.recv()
                if '"pong"' in str(reply):
                    return ProbeOutcome.SERVED
    except (InvalidStatus, ConnectionClosed) as exc:
        return _socket_refusal(exc)


async def push_register(ctx: ProbeContext) -> ProbeOutcome:
    # The same token every time: registering again reactivates it instead of adding devices.
    body = {"token": ctx.state["device"], "platform": "android"}
    return ctx.classify(await ctx.http.post("/v1/push/devices", json=body, headers=auth(ctx)))


async def delivered(ctx: ProbeContext, since: int) -> tuple[list[dict[str, Any]], int]:
    """Notifications the provider simulator delivered after sequence number `since`."""
    url = f"{ctx.services['push-provider']}/control/received?since={since}&outcome=delivered&limit=10000"
    answer = await ctx.http.get(url)
    answer.raise_for_status()
    data = answer.json()
    return list(data["received"]), int(data["last_seq"] or since)


async def push_notify(ctx: ProbeContext) -> ProbeOutcome:
    """bob sends a message; served once alice's device got its notification (a hang if it never does)."""
    key = f"notify-{uuid.uuid4().hex}"
    _, since = await delivered(ctx, ctx.state.get("push_seq", 0))
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
    sent = await ctx.http.post(
        path, json={"body": "notify probe", "idempotency_key": key}, headers=auth(ctx, "bob")
    )
    if not 200 <= sent.status_code < 300:
        return ctx.classify(sent)
    while True:  # bounded by the probe timeout around every probe
        received, since = await delivered(ctx, since)
        ctx.state["push_seq"] = since
        if any(r.get("data", {}).get("idempotency_key") == key for r in received):
            return ProbeOutcome.SERVED
        await asyncio.sleep(0.05)


async def video_call(ctx: ProbeContext) -> ProbeOutcome:
    """alice calls bob and hangs up: create then leave (the call ends with its last participant)."""
    body = {"participants": [ctx.state["bob"]["user_id"]], "kind": "direct"}
    created = await ctx.http.post("/v1/video/calls", json=body, headers=auth(ctx))
    if created.status_code != 201:
        return ctx.classify(created)
    left = await ctx.http.post(f"/v1/video/calls/{created.json()['id']}/leave", headers=auth(ctx))
    return worst([ctx.classify(created), ctx.classify(left)])


async def video_signal(ctx: ProbeContext) -> ProbeOutcome:
    """The signaling WebSocket through the gateway: connect, ping, pong."""
    return await _ws_round_trip(ctx, "/v1/video/ws")


async def storage_upload(ctx: ProbeContext) -> ProbeOutcome:
    body = f"probe {uuid.uuid4().hex}".encode()
    response = await ctx.http.post("/v1/storage/files?name=probe.txt", content=body, headers=auth(ctx))
    return ctx.classify(response)


async def storage_download(ctx: ProbeContext) -> ProbeOutcome:
    return ctx.classify(await ctx.http.get(f"/v1/storage/files/{ctx.state['file']}", headers=auth(ctx)))
