"""SecureConnect's probe plugin: the user flows behind each feature, and the data-loss ledger writers.

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
from chaosgate.probes.plugin import LedgerWriter, ProbePlugin
from chaosgate.scoring import ProbeOutcome

PASSWORD = "chaosgate-probe-password-1"


def _auth(ctx: ProbeContext, who: str = "alice") -> dict[str, str]:
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
        headers=_auth(ctx),
    )
    if created.status_code != 201:
        raise ProbeError(
            f"setup: creating the probe conversation failed: {created.status_code} {created.text[:200]}"
        )
    ctx.state["conversation"] = created.json()["id"]
    poll = await ctx.http.post(
        f"/v1/chat/conversations/{ctx.state['conversation']}/polls",
        json={"question": "ready?", "options": ["yes", "no"]},
        headers=_auth(ctx),
    )
    if poll.status_code != 201:
        raise ProbeError(f"setup: creating the probe poll failed: {poll.status_code} {poll.text[:200]}")
    ctx.state["poll"] = poll.json()["id"]
    if "storage" in ctx.services:
        stored = await ctx.http.post(
            "/v1/storage/files?name=probe.txt", content=b"chaosgate probe file", headers=_auth(ctx)
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
            "/v1/push/devices", json={"token": ctx.state["device"], "platform": "android"}, headers=_auth(ctx)
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
    return ctx.classify(await ctx.http.get("/v1/auth/me", headers=_auth(ctx)))


async def send(ctx: ProbeContext) -> ProbeOutcome:
    body = {"body": "probe", "idempotency_key": f"probe-{uuid.uuid4().hex}"}
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
    return ctx.classify(await ctx.http.post(path, json=body, headers=_auth(ctx)))


async def history(ctx: ProbeContext) -> ProbeOutcome:
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages?limit=20"
    return ctx.classify(await ctx.http.get(path, headers=_auth(ctx)))


async def poll(ctx: ProbeContext) -> ProbeOutcome:
    return ctx.classify(await ctx.http.get(f"/v1/chat/polls/{ctx.state['poll']}", headers=_auth(ctx)))


async def presence(ctx: ProbeContext) -> ProbeOutcome:
    beat = await ctx.http.post("/v1/chat/presence", headers=_auth(ctx))
    if not 200 <= beat.status_code < 300:
        return ctx.classify(beat)
    query = await ctx.http.get(f"/v1/chat/presence?users={ctx.state['alice']['user_id']}", headers=_auth(ctx))
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
                headers=_auth(ctx),
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
    except InvalidStatus as exc:
        status = exc.response.status_code
        PROBE_DETAIL.set(f"handshake HTTP {status}")
        return ProbeOutcome.REJECTED if status in (429, 503) else ProbeOutcome.ERROR
    except ConnectionClosed as exc:
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
    polled = await ctx.http.get(f"/v1/chat/conversations/{conversation}/poll", headers=_auth(ctx, "bob"))
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
    except InvalidStatus as exc:
        status = exc.response.status_code
        PROBE_DETAIL.set(f"handshake HTTP {status}")
        return ProbeOutcome.REJECTED if status in (429, 503) else ProbeOutcome.ERROR
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        PROBE_DETAIL.set(f"closed with code {code}")
        return ProbeOutcome.REJECTED if code in (1013, 1008) else ProbeOutcome.ERROR


async def push_register(ctx: ProbeContext) -> ProbeOutcome:
    # The same token every time: registering again reactivates it instead of adding devices.
    body = {"token": ctx.state["device"], "platform": "android"}
    return ctx.classify(await ctx.http.post("/v1/push/devices", json=body, headers=_auth(ctx)))


async def _delivered(ctx: ProbeContext, since: int) -> tuple[list[dict[str, Any]], int]:
    """Notifications the provider simulator delivered after sequence number `since`."""
    url = f"{ctx.services['push-provider']}/control/received?since={since}&outcome=delivered&limit=10000"
    answer = await ctx.http.get(url)
    answer.raise_for_status()
    data = answer.json()
    return list(data["received"]), int(data["last_seq"] or since)


async def push_notify(ctx: ProbeContext) -> ProbeOutcome:
    """bob sends a message; served once alice's device got its notification (a hang if it never does)."""
    key = f"notify-{uuid.uuid4().hex}"
    _, since = await _delivered(ctx, ctx.state.get("push_seq", 0))
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
    sent = await ctx.http.post(
        path, json={"body": "notify probe", "idempotency_key": key}, headers=_auth(ctx, "bob")
    )
    if not 200 <= sent.status_code < 300:
        return ctx.classify(sent)
    while True:  # bounded by the probe timeout around every probe
        received, since = await _delivered(ctx, since)
        ctx.state["push_seq"] = since
        if any(r.get("data", {}).get("idempotency_key") == key for r in received):
            return ProbeOutcome.SERVED
        await asyncio.sleep(0.05)


async def video_call(ctx: ProbeContext) -> ProbeOutcome:
    """alice calls bob and hangs up: create then leave (the call ends with its last participant)."""
    body = {"participants": [ctx.state["bob"]["user_id"]], "kind": "direct"}
    created = await ctx.http.post("/v1/video/calls", json=body, headers=_auth(ctx))
    if created.status_code != 201:
        return ctx.classify(created)
    left = await ctx.http.post(f"/v1/video/calls/{created.json()['id']}/leave", headers=_auth(ctx))
    return worst([ctx.classify(created), ctx.classify(left)])


async def video_signal(ctx: ProbeContext) -> ProbeOutcome:
    """The signaling WebSocket through the gateway: connect, ping, pong."""
    return await _ws_round_trip(ctx, "/v1/video/ws")


async def storage_upload(ctx: ProbeContext) -> ProbeOutcome:
    body = f"probe {uuid.uuid4().hex}".encode()
    response = await ctx.http.post("/v1/storage/files?name=probe.txt", content=body, headers=_auth(ctx))
    return ctx.classify(response)


async def storage_download(ctx: ProbeContext) -> ProbeOutcome:
    return ctx.classify(await ctx.http.get(f"/v1/storage/files/{ctx.state['file']}", headers=_auth(ctx)))


class CallRecords:
    """Each write is a call created with a unique client id; read back by those ids."""

    ephemeral = False

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        self.ids.append(write_id)
        body = {"participants": [ctx.state["alice"]["user_id"]], "kind": "direct", "client_call_id": write_id}
        response = await ctx.http.post("/v1/video/calls", json=body, headers=_auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")
        return await _read_by_client_ids(ctx, "/v1/video/calls", "calls", "client_call_id", self.ids)


class FileUploads:
    """Each write is a small file uploaded with a unique client id; read back by those ids."""

    ephemeral = False

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        self.ids.append(write_id)
        path = f"/v1/storage/files?name={write_id}.txt&client_file_id={write_id}"
        response = await ctx.http.post(path, content=write_id.encode(), headers=_auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")
        return await _read_by_client_ids(ctx, "/v1/storage/files", "files", "client_file_id", self.ids)


async def _read_by_client_ids(ctx: ProbeContext, path: str, key: str, field: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 100):  # the services take at most 200 ids per query
        batch = ",".join(ids[start : start + 100])
        answer = await ctx.http.get(f"{path}?client_ids={batch}", headers=_auth(ctx, "bob"))
        if answer.status_code != 200:
            raise ProbeError(f"reading {path} back failed: {answer.status_code} {answer.text[:200]}")
        found |= {str(item[field]) for item in answer.json()[key] if item.get(field)}
    return found


class PushNotifications:
    """Each write is a chat message from bob; the write counts as kept when alice's device was notified."""

    ephemeral = False

    def __init__(self) -> None:
        self.since = -1

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        if self.since < 0:
            _, self.since = await _delivered(ctx, 0)  # only what is delivered from now on
        body = {"body": f"ledger {write_id}", "idempotency_key": write_id}
        path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
        response = await ctx.http.post(path, json=body, headers=_auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await asyncio.sleep(3.0)  # notifications are asynchronous: give the last ones time to land
        received, _ = await _delivered(ctx, max(self.since, 0))
        return {
            str(r["data"]["idempotency_key"])
            for r in received
            if r.get("token") == ctx.state["device"] and "idempotency_key" in r.get("data", {})
        }


class ChatMessages:
    """Writes chat messages, each with a unique idempotency key; reads the conversation back."""

    ephemeral = False

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        body = {"body": f"ledger {write_id}", "idempotency_key": write_id}
        path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
        response = await ctx.http.post(path, json=body, headers=_auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(1000):  # bounded: 200 per page
            query = "?limit=200" + (f"&before={cursor}" if cursor else "")
            path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages{query}"
            page = await ctx.http.get(path, headers=_auth(ctx, "bob"))
            if page.status_code != 200:
                raise ProbeError(f"reading chat history back failed: {page.status_code} {page.text[:200]}")
            data = page.json()
            seen |= {m["idempotency_key"] for m in data["messages"]}
            cursor = data.get("next_cursor")
            if not cursor:
                break
        return seen


class PollVotes:
    """Each write is a vote (with a unique vote_id) on a fresh poll; read back from each poll's tally."""

    ephemeral = False

    def __init__(self) -> None:
        self.polls: dict[str, str] = {}

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        created = await ctx.http.post(
            f"/v1/chat/conversations/{ctx.state['conversation']}/polls",
            json={"question": write_id, "options": ["a", "b"]},
            headers=_auth(ctx, "bob"),
        )
        if created.status_code != 201:
            return False
        self.polls[write_id] = created.json()["id"]
        vote = await ctx.http.post(
            f"/v1/chat/polls/{self.polls[write_id]}/votes",
            json={"option": 0, "vote_id": write_id},
            headers=_auth(ctx, "bob"),
        )
        return 200 <= vote.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")

        async def counted(write_id: str, poll_id: str) -> str | None:
            response = await ctx.http.get(f"/v1/chat/polls/{poll_id}", headers=_auth(ctx, "bob"))
            if response.status_code != 200:
                raise ProbeError(f"reading poll {poll_id} back failed: {response.status_code}")
            return write_id if sum(response.json().get("tally", [])) > 0 else None

        found = await asyncio.gather(*(counted(w, p) for w, p in self.polls.items()))
        return {w for w in found if w}


class Sessions:
    """Ephemeral state: sessions opened before the fault must still refresh after recovery."""

    ephemeral = True

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        body = {"email": ctx.state["bob"]["email"], "password": PASSWORD}
        response = await ctx.http.post("/v1/auth/login", json=body)
        if response.status_code != 200:
            return False
        self.tokens[write_id] = response.json()["refresh_token"]
        return True

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        alive: set[str] = set()
        for write_id, token in self.tokens.items():
            response = await ctx.http.post("/v1/auth/refresh", json={"refresh_token": token})
            if response.status_code == 200:
                alive.add(write_id)
        return alive


def plugin() -> ProbePlugin:
    """The entry point: SecureConnect's probes by feature and its ledger writers by name."""
    writers: dict[str, Callable[[], LedgerWriter]] = {
        "chat.messages": ChatMessages,
        "poll.votes": PollVotes,
        "sessions": Sessions,
        "push.notifications": PushNotifications,
        "video.calls": CallRecords,
        "storage.files": FileUploads,
    }
    return ProbePlugin(
        setup=setup,
        probes={
            "auth.register": register,
            "auth.login": login,
            "auth.refresh": refresh,
            "auth.me": me,
            "chat.send": send,
            "chat.history": history,
            "chat.ws": chat_ws,
            "chat.poll": poll,
            "presence": presence,
            "video.call": video_call,
            "video.signal": video_signal,
            "storage.upload": storage_upload,
            "storage.download": storage_download,
            "push.register": push_register,
            "push.notify": push_notify,
        },
        writers=writers,
    )
