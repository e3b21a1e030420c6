"""SecureConnect's ledger writers: what each writes during a scenario and how it reads the writes back
(chaosgate counts what was acknowledged and not read back as lost)."""

from __future__ import annotations

import asyncio

from chaosgate.errors import ProbeError
from chaosgate.probes.base import ProbeContext
from target_system.chaos.probes import PASSWORD, auth, delivered, relogin


class CallRecords:
    """Each write is a call created with a unique client id; read back by those ids."""

    ephemeral = False

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        self.ids.append(write_id)
        body = {"participants": [ctx.state["alice"]["user_id"]], "kind": "direct", "client_call_id": write_id}
        response = await ctx.http.post("/v1/video/calls", json=body, headers=auth(ctx, "bob"))
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
        response = await ctx.http.post(path, content=write_id.encode(), headers=auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")
        return await _read_by_client_ids(ctx, "/v1/storage/files", "files", "client_file_id", self.ids)


async def _read_by_client_ids(ctx: ProbeContext, path: str, key: str, field: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 100):  # the services take at most 200 ids per query
        batch = ",".join(ids[start : start + 100])
        answer = await ctx.http.get(f"{path}?client_ids={batch}", headers=auth(ctx, "bob"))
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
            _, self.since = await delivered(ctx, 0)  # only what is delivered from now on
        body = {"body": f"ledger {write_id}", "idempotency_key": write_id}
        path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages"
        response = await ctx.http.post(path, json=body, headers=auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await asyncio.sleep(3.0)  # notifications are asynchronous: give the last ones time to land
        received, _ = await delivered(ctx, max(self.since, 0))
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
        response = await ctx.http.post(path, json=body, headers=auth(ctx, "bob"))
        return 200 <= response.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(1000):  # bounded: 200 per page
            query = "?limit=200" + (f"&before={cursor}" if cursor else "")
            path = f"/v1/chat/conversations/{ctx.state['conversation']}/messages{query}"
            page = await ctx.http.get(path, headers=auth(ctx, "bob"))
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
            headers=auth(ctx, "bob"),
        )
        if created.status_code != 201:
            return False
        self.polls[write_id] = created.json()["id"]
        vote = await ctx.http.post(
            f"/v1/chat/polls/{self.polls[write_id]}/votes",
            json={"option": 0, "vote_id": write_id},
            headers=auth(ctx, "bob"),
        )
        return 200 <= vote.status_code < 300

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        await relogin(ctx, "bob")

        async def counted(write_id: str, poll_id: str) -> str | None:
            response = await ctx.http.get(f"/v1/chat/polls/{poll_id}", headers=auth(ctx, "bob"))
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
