"""SecureConnect's probe plugin: the user flows behind each feature, and the data-loss ledger writers.

Registered under the `chaosgate.probes` entry point group as `secureconnect`; another system ships
its own plugin the same way and names it in its chaos.yaml.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chaosgate.errors import ProbeError
from chaosgate.probes.base import ProbeContext
from chaosgate.probes.outcome import classify_http
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


def _outcome(response: Any) -> ProbeOutcome:
    return classify_http(response.status_code, response.headers, response.content)


async def register(ctx: ProbeContext) -> ProbeOutcome:
    email = f"probe-{uuid.uuid4().hex}@probe.chaosgate.test"
    body = {"email": email, "password": PASSWORD, "display_name": "probe"}
    return _outcome(await ctx.http.post("/v1/auth/register", json=body))


async def login(ctx: ProbeContext) -> ProbeOutcome:
    body = {"email": ctx.state["alice"]["email"], "password": PASSWORD}
    return _outcome(await ctx.http.post("/v1/auth/login", json=body))


async def refresh(ctx: ProbeContext) -> ProbeOutcome:
    # Refresh tokens rotate: keep the newest one, or the next probe would use a spent token. carol
    # is the only user refreshed, so no other probe or writer depends on her session.
    token = ctx.state["carol"]["refresh_token"]
    response = await ctx.http.post("/v1/auth/refresh", json={"refresh_token": token})
    if 200 <= response.status_code < 300:
        ctx.state["carol"].update(response.json())
    elif response.status_code == 401:
        await relogin(ctx, "carol")  # as a user would; this sample still counts as the error it was
    return _outcome(response)


async def me(ctx: ProbeContext) -> ProbeOutcome:
    return _outcome(await ctx.http.get("/v1/auth/me", headers=_auth(ctx)))


async def send(ctx: ProbeContext) -> ProbeOutcome:
    body = {"body": "probe", "idempotency_key": f"probe-{uuid.uuid4().hex}"}
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
    return _outcome(await ctx.http.post(path, json=body, headers=_auth(ctx)))


async def history(ctx: ProbeContext) -> ProbeOutcome:
    path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages?limit=20"
    return _outcome(await ctx.http.get(path, headers=_auth(ctx)))


async def poll(ctx: ProbeContext) -> ProbeOutcome:
    return _outcome(await ctx.http.get(f"/v1/chat/polls/{ctx.state['poll']}", headers=_auth(ctx)))


async def presence(ctx: ProbeContext) -> ProbeOutcome:
    beat = await ctx.http.post("/v1/chat/presence", headers=_auth(ctx))
    if not 200 <= beat.status_code < 300:
        return _outcome(beat)
    query = await ctx.http.get(f"/v1/chat/presence?users={ctx.state['alice']['user_id']}", headers=_auth(ctx))
    worst = max(_outcome(beat), _outcome(query), key=_severity)
    return worst


def _severity(outcome: ProbeOutcome) -> int:
    return list(ProbeOutcome).index(outcome)


async def chat_ws(ctx: ProbeContext) -> ProbeOutcome:
    """A WebSocket round trip through the gateway: connect, ping, pong."""
    url = (
        ctx.gateway_url.replace("http://", "ws://", 1)
        + f"/v1/chat/ws?token={ctx.state['alice']['access_token']}"
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
        return ProbeOutcome.REJECTED if status in (429, 503) else ProbeOutcome.ERROR
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return ProbeOutcome.REJECTED if code in (1013, 1008) else ProbeOutcome.ERROR


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
        },
        writers=writers,
    )
