"""WebSocket flood: open many concurrent, authenticated WebSocket connections through the gateway.

Bounded in count (the scenario's `connections`, at most 20,000) and in time (the fault's duration
plus a grace period), and only ever to the configured gateway on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
import uuid
from dataclasses import dataclass, field

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.scenario.models import WsFloodFault

from .background import BackgroundHold

GRACE_S = 15.0
SOCKETS_PER_ACCOUNT = 10  # below the target's per-user socket cap, so the per-backend cap is what is hit
LOGIN_CONCURRENCY = 8
# A flood that began fewer than this share of the attempts its rate makes due fell short: the harness
# (its own event loop, on a saturated machine) could not deliver the fault the scenario asks for.
KEEP_UP = 0.8
PASSWORD = "chaosgate-flood-password-1"


@dataclass
class FloodStats:
    opened: int = 0
    rejected: int = 0
    failed: int = 0
    started: int = 0  # attempts begun
    began_at: float = 0.0  # time.monotonic() of the first
    done: bool = False
    sockets: list[ClientConnection] = field(default_factory=list)


class WsFloodInjector(Injector[WsFloodFault]):
    name = "wsflood"
    fault = WsFloodFault

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        self._holds: dict[str, BackgroundHold] = {}
        self._stats: dict[str, FloodStats] = {}
        self._prepared: dict[str, list[str]] = {}  # spec -> tokens logged in before the steady window

    def _tokens(self, count: int) -> list[str]:
        """`count` flood accounts, registered and logged in concurrently: a real flood (a reconnect
        storm) comes from many users, and a per-user socket cap must not turn it into a trickle."""

        async def one(http: httpx.AsyncClient) -> str:
            email = f"flood-{uuid.uuid4().hex[:10]}@flood.chaosgate.test"
            await http.post(
                "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "flood"}
            )
            login = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            if login.status_code != 200:
                raise FaultError(
                    f"wsflood: could not log a flood user in: {login.status_code} {login.text[:200]}"
                )
            return str(login.json()["access_token"])

        async def all_of_them() -> list[str]:
            limits = httpx.Limits(max_connections=LOGIN_CONCURRENCY)
            async with httpx.AsyncClient(
                base_url=self.env.gateway_url, timeout=self.env.call_timeout_s, limits=limits
            ) as http:
                return list(await asyncio.gather(*(one(http) for _ in range(count))))

        return asyncio.run(all_of_them())

    def _flood_tokens(self, spec: WsFloodFault) -> list[str]:
        return self._tokens(math.ceil(spec.connections / SOCKETS_PER_ACCOUNT))

    def prepare(self, spec: WsFloodFault) -> None:
        # The accounts' logins (password hashing in auth) would otherwise load the machine in the window.
        self._prepared[spec.model_dump_json()] = self._flood_tokens(spec)

    def apply(self, spec: WsFloodFault, *, fault_id: str) -> HandleData:
        base = self.env.gateway_url.replace("http://", "ws://", 1) + spec.path
        tokens = self._prepared.pop(spec.model_dump_json(), None) or self._flood_tokens(spec)
        urls = itertools.cycle([f"{base}?token={token}" for token in tokens])
        stats = FloodStats()

        async def connect_one(url: str) -> None:
            try:
                socket = await websockets.connect(url, open_timeout=5, close_timeout=0.5, ping_interval=None)
            except websockets.InvalidStatus:
                stats.rejected += 1
                return
            except (OSError, TimeoutError, websockets.WebSocketException):
                stats.failed += 1
                return
            stats.opened += 1
            stats.sockets.append(socket)

        async def hold(stop: asyncio.Event) -> None:
            pending: set[asyncio.Task[None]] = set()
            stats.began_at = time.monotonic()
            try:
                for _ in range(spec.connections):
                    if stop.is_set():
                        break
                    stats.started += 1
                    task = asyncio.create_task(connect_one(next(urls)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    await asyncio.sleep(1 / spec.rate)
                await asyncio.gather(*pending, return_exceptions=True)
                stats.done = True
                await stop.wait()
            finally:
                for task in pending:
                    task.cancel()
                for socket in stats.sockets:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(socket.close(), 1)

        background = BackgroundHold(f"wsflood-{fault_id}", hold, spec.duration + GRACE_S)
        background.start()
        self._holds[fault_id] = background
        self._stats[fault_id] = stats
        return {"connections": spec.connections}

    def verify(self, spec: WsFloodFault, data: HandleData) -> str:
        stats = self._stats[str(data["fault_id"])]
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and stats.opened + stats.rejected + stats.failed == 0:
            time.sleep(0.02)
        if stats.opened + stats.rejected + stats.failed == 0:
            raise FaultError("wsflood: no connection attempt completed within 1 s")
        return f"flooding: {stats.opened} open, {stats.rejected} rejected, {stats.failed} failed so far"

    def shortfall(self, spec: WsFloodFault, data: HandleData) -> str:
        stats = self._stats.get(str(data["fault_id"]))
        if stats is None or stats.done or not stats.began_at:
            return ""
        due = min(spec.connections, spec.rate * (time.monotonic() - stats.began_at))
        if stats.started >= KEEP_UP * due:
            return ""
        return (
            f"the flood began {stats.started} of the {due:.0f} connection attempts due at {spec.rate:g}/s "
            f"({stats.opened} open, {stats.rejected} rejected): the harness could not keep its rate"
        )

    def remove(self, spec: WsFloodFault, data: HandleData) -> None:
        hold = self._holds.pop(str(data.get("fault_id")), None)
        if hold is not None:
            hold.release()

    def close(self) -> None:
        for hold in self._holds.values():
            hold.release()
        self._holds.clear()
