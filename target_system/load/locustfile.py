"""SecureConnect users for Locust, open loop: loaded only by `python -m locust -f <this file>`, never
imported by the harness (Locust monkey-patches its process with gevent on import).

Each user registers a peer (with a push device, so chat sends notify through the push provider) and
itself, logs in, opens a conversation with the peer, creates a poll in it and stores a file; then every
arrival runs one action, drawn by weight, from every feature family: auth (login, refresh, me), chat
(send, history, polling, polls), presence, chat and video WebSockets (ping/pong), push device
registration, video calls, storage upload and download. Non-2xx answers are Locust failures.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import websocket  # websocket-client, a Locust dependency; cooperative under gevent's patched sockets
from gevent.lock import Semaphore

from chaosgate.load.openloop import OpenLoopUser, action

PASSWORD = "chaosgate-load-password-1"
FILE_BODY = "chaosgate load " * 64  # 1 KiB (text: FastHttpSession types `data` as str)
WS_FRAMES = 20  # a session reads at most this many frames (fan-out may come before the pong)


def _email(who: str) -> str:
    return f"load-{who}-{uuid.uuid4().hex[:12]}@load.chaosgate.test"


class SecureConnectUser(OpenLoopUser):
    """One person using the app: chat most, then auth, presence, files, calls and sockets."""

    def on_start(self) -> None:
        self.peer: dict[str, Any] = {}
        self.me: dict[str, Any] = {}
        self.headers: dict[str, str] = {}
        self.token = ""  # the access token (WebSockets take it in the query)
        self.refresh_token: str | None = None  # a session of its own: rotation never races actions
        self.refresh_lock = Semaphore()
        self.conversation: str | None = None
        self.poll: str | None = None
        self.file: str | None = None
        self.after: str | None = None  # the polling cursor
        self.device = f"load-device-{uuid.uuid4().hex}"
        super().on_start()

    # Setup: each piece once; a failed setup is retried by OpenLoopUser (at most every few seconds).

    def setup(self) -> bool:
        if not self.peer:
            self.peer = self._account("peer", device=f"load-peer-device-{uuid.uuid4().hex}")
        if not self.me:
            self.me = self._account("user")
        if not self.peer or not self.me:
            return False
        if not self.headers and not self._login():
            return False
        if self.conversation is None:
            self.conversation = self._created(
                "/v1/chat/conversations",
                {"members": [self.peer["user_id"]], "title": "load", "kind": "group"},
            )
        if self.conversation is not None and self.poll is None:
            self.poll = self._created(
                f"/v1/chat/conversations/{self.conversation}/polls",
                {"question": "load?", "options": ["yes", "no"]},
                name="/v1/chat/conversations/[id]/polls",
            )
        if self.file is None:
            stored = self.client.post(
                "/v1/storage/files?name=load.txt",
                data=FILE_BODY,
                headers={**self.headers, "Content-Type": "text/plain"},
                name="/v1/storage/files",
            )
            self.file = stored.json().get("id") if stored.status_code in (200, 201) else None
        return None not in (self.conversation, self.poll, self.file)

    def _account(self, who: str, device: str | None = None) -> dict[str, Any]:
        """A registered user ({} on failure); with `device`, logged in once to register that device."""
        email = _email(who)
        body = {"email": email, "password": PASSWORD, "display_name": who}
        registered = self.client.post("/v1/auth/register", json=body, name="/v1/auth/register")
        if registered.status_code != 201:
            return {}
        account = {"email": email, "user_id": registered.json()["id"]}
        if device is not None:
            login = self.client.post(
                "/v1/auth/login", json={"email": email, "password": PASSWORD}, name="/v1/auth/login"
            )
            if login.status_code != 200:
                return {}
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            added = self.client.post(
                "/v1/push/devices",
                json={"token": device, "platform": "android"},
                headers=headers,
                name="/v1/push/devices",
            )
            if added.status_code != 201:
                return {}
        return account

    def _login(self) -> bool:
        answer = self.client.post(
            "/v1/auth/login", json={"email": self.me["email"], "password": PASSWORD}, name="/v1/auth/login"
        )
        if answer.status_code != 200:
            return False
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        self.token = answer.json()["access_token"]
        return True

    def _created(self, path: str, body: dict[str, Any], name: str | None = None) -> str | None:
        answer = self.client.post(path, json=body, headers=self.headers, name=name or path)
        return str(answer.json()["id"]) if answer.status_code == 201 else None

    # auth

    @action(1)
    def login(self) -> None:
        self._login()

    @action(1)
    def refresh(self) -> None:
        with self.refresh_lock:
            if self.refresh_token is None:
                body = {"email": self.me["email"], "password": PASSWORD}
                answer = self.client.post("/v1/auth/login", json=body, name="/v1/auth/login")
            else:
                body = {"refresh_token": self.refresh_token}
                answer = self.client.post("/v1/auth/refresh", json=body, name="/v1/auth/refresh")
            self.refresh_token = answer.json()["refresh_token"] if answer.status_code == 200 else None

    @action(2)
    def who_am_i(self) -> None:
        self.client.get("/v1/auth/me", headers=self.headers, name="/v1/auth/me")

    # chat

    @action(6)
    def send(self) -> None:
        self.client.post(
            f"/v1/chat/conversations/{self.conversation}/messages",
            json={"body": "load", "idempotency_key": f"load-{uuid.uuid4().hex}"},
            headers=self.headers,
            name="/v1/chat/conversations/[id]/messages",
        )

    @action(5)
    def history(self) -> None:
        self.client.get(
            f"/v1/chat/conversations/{self.conversation}/messages?limit=20",
            headers=self.headers,
            name="/v1/chat/conversations/[id]/messages",
        )

    @action(3)
    def polling(self) -> None:
        """The polling fallback: messages after the last one this user saw."""
        query = f"?after={self.after}" if self.after else ""
        answer = self.client.get(
            f"/v1/chat/conversations/{self.conversation}/poll{query}",
            headers=self.headers,
            name="/v1/chat/conversations/[id]/poll",
        )
        if answer.status_code == 200:
            self.after = answer.json().get("next_after") or self.after

    @action(1)
    def poll_tally(self) -> None:
        self.client.get(f"/v1/chat/polls/{self.poll}", headers=self.headers, name="/v1/chat/polls/[id]")

    @action(3)
    def presence(self) -> None:
        self.client.post("/v1/chat/presence", headers=self.headers, name="/v1/chat/presence")
        self.client.get(
            f"/v1/chat/presence?users={self.peer['user_id']}", headers=self.headers, name="/v1/chat/presence"
        )

    @action(1)
    def chat_ws(self) -> None:
        self._ws_session("/v1/chat/ws")

    # push, video, storage

    @action(1)
    def push_register(self) -> None:
        # The same token every time: registering again reactivates it instead of adding devices.
        self.client.post(
            "/v1/push/devices",
            json={"token": self.device, "platform": "android"},
            headers=self.headers,
            name="/v1/push/devices",
        )

    @action(1)
    def video_call(self) -> None:
        created = self.client.post(
            "/v1/video/calls",
            json={
                "participants": [self.peer["user_id"]],
                "kind": "direct",
                "client_call_id": uuid.uuid4().hex,
            },
            headers=self.headers,
            name="/v1/video/calls",
        )
        if created.status_code == 201:
            leave = f"/v1/video/calls/{created.json()['id']}/leave"
            self.client.post(leave, headers=self.headers, name="/v1/video/calls/[id]/leave")

    @action(1)
    def video_ws(self) -> None:
        self._ws_session("/v1/video/ws")

    @action(1)
    def upload(self) -> None:
        self.client.post(
            "/v1/storage/files?name=load.txt",
            data=FILE_BODY,
            headers={**self.headers, "Content-Type": "text/plain"},
            name="/v1/storage/files",
        )

    @action(2)
    def download(self) -> None:
        self.client.get(f"/v1/storage/files/{self.file}", headers=self.headers, name="/v1/storage/files/[id]")

    def _ws_session(self, path: str) -> None:
        """Connect, ping, wait for the pong, close: one Locust request of type WS."""
        url = (self.host or "").replace("http://", "ws://", 1) + f"{path}?token={self.token}"
        started = time.perf_counter()
        error: Exception | None = None
        try:
            socket = websocket.create_connection(url, timeout=self.request_timeout_s)
            try:
                socket.send('{"type": "ping"}')
                for _ in range(WS_FRAMES):
                    if '"pong"' in str(socket.recv()):
                        break
                else:
                    error = RuntimeError(f"no pong within {WS_FRAMES} frames")
            finally:
                socket.close()
        except Exception as exc:  # any failure of the session is one failed WS request
            error = exc
        self.fire("WS", path, started, error)
