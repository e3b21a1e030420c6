"""SecureConnect user behaviour for Locust; loaded only by `python -m locust -f <this file>`, never imported
by the harness (Locust monkey-patches the process with gevent on import).

Each simulated user registers a peer and itself, logs in, opens a conversation with the peer, then
sends and reads messages, beats presence, opens a short WebSocket session, starts video calls and
uploads small files. Non-2xx answers are Locust failures; the harness cuts the stats into phases.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import locust.stats
import websocket  # websocket-client, a Locust dependency; cooperative under gevent's patched sockets
from locust import HttpUser, between, events, task
from locust.env import Environment

PASSWORD = "chaosgate-load-password-1"
WS_NAME = "/v1/chat/ws"


@events.init.add_listener
def _flush_history_every_second(environment: Environment, **_: Any) -> None:
    # The harness reads the stats history while Locust runs (readiness, phases): flush it each
    # second rather than every 10 s, Locust's default.
    locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1


class SecureConnectUser(HttpUser):
    """One person using the app: chat first, calls and files now and then."""

    wait_time = between(0.2, 0.8)

    def on_start(self) -> None:
        self.peer = self._register("peer")
        me = self._register("user")
        self.headers: dict[str, str] = {}
        self.conversation: str | None = None
        with self.client.post(
            "/v1/auth/login",
            json={"email": me["email"], "password": PASSWORD},
            name="/v1/auth/login",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"login {response.status_code}")
                return
            self.token = response.json()["access_token"]
            self.headers = {"Authorization": f"Bearer {self.token}"}
        created = self.client.post(
            "/v1/chat/conversations",
            json={"members": [self.peer["user_id"]], "title": "load", "kind": "group"},
            headers=self.headers,
            name="/v1/chat/conversations",
        )
        if created.status_code == 201:
            self.conversation = created.json()["id"]

    def _register(self, who: str) -> dict[str, Any]:
        email = f"load-{who}-{uuid.uuid4().hex[:12]}@load.chaosgate.test"
        response = self.client.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": who},
            name="/v1/auth/register",
        )
        user_id = response.json().get("id", "") if response.status_code == 201 else ""
        return {"email": email, "user_id": user_id}

    def _ready(self) -> bool:
        # A user whose setup failed (the fault may be on) only retries the login flow.
        if not self.headers or self.conversation is None:
            self.on_start()
            return False
        return True

    @task(5)
    def send_message(self) -> None:
        if self._ready():
            self.client.post(
                f"/v1/chat/conversations/{self.conversation}/messages",
                json={"body": "load", "idempotency_key": f"load-{uuid.uuid4().hex}"},
                headers=self.headers,
                name="/v1/chat/conversations/[id]/messages",
            )

    @task(5)
    def read_history(self) -> None:
        if self._ready():
            self.client.get(
                f"/v1/chat/conversations/{self.conversation}/messages?limit=20",
                headers=self.headers,
                name="/v1/chat/conversations/[id]/messages",
            )

    @task(2)
    def presence(self) -> None:
        if self._ready():
            self.client.post("/v1/chat/presence", headers=self.headers, name="/v1/chat/presence")
            self.client.get(
                f"/v1/chat/presence?users={self.peer['user_id']}",
                headers=self.headers,
                name="/v1/chat/presence",
            )

    @task(1)
    def websocket_session(self) -> None:
        """Connect, ping, wait for the pong, close: one Locust request of type WS."""
        if not self._ready():
            return
        url = (self.host or "").replace("http://", "ws://", 1) + f"{WS_NAME}?token={self.token}"
        started = time.perf_counter()
        error: Exception | None = None
        try:
            socket = websocket.create_connection(url, timeout=5)
            try:
                socket.send('{"type": "ping"}')
                for _ in range(20):  # bounded: other frames (fan-out) may come first
                    if '"pong"' in str(socket.recv()):
                        break
                else:
                    error = RuntimeError("no pong within 20 frames")
            finally:
                socket.close()
        except Exception as exc:  # any failure of the session is one failed WS request
            error = exc
        self.environment.events.request.fire(
            request_type="WS",
            name=WS_NAME,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    @task(1)
    def video_call(self) -> None:
        if self._ready():
            self.client.post(
                "/v1/video/calls",
                json={"participants": [self.peer["user_id"]], "client_call_id": uuid.uuid4().hex},
                headers=self.headers,
                name="/v1/video/calls",
            )

    @task(1)
    def upload_file(self) -> None:
        if self._ready():
            self.client.post(
                "/v1/storage/files?name=load.txt",
                data=b"chaosgate load " * 64,
                headers={**self.headers, "Content-Type": "text/plain"},
                name="/v1/storage/files",
            )
