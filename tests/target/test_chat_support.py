"""Helpers the chat and journey tests share (this module holds no tests): accounts, requests, WebSockets."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

PASSWORD = "correct horse battery"
DEGRADED = "x-secureconnect-degraded"


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_account(client: httpx.Client) -> Account:
    """Register and log in a fresh user through the gateway."""
    email = f"chat-{uuid.uuid4().hex[:12]}@example.test"
    registered = client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Chatter"}
    )
    assert registered.status_code == 201, registered.text
    tokens = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(user_id=body["user_id"], email=email, token=body["access_token"])


def new_conversation(client: httpx.Client, owner: Account, *others: Account, kind: str = "group") -> str:
    answer = client.post(
        "/v1/chat/conversations",
        json={"members": [o.user_id for o in others], "kind": kind, "title": "test"},
        headers=owner.headers,
    )
    assert answer.status_code == 201, answer.text
    conversation_id: str = answer.json()["id"]
    return conversation_id


def send(
    client: httpx.Client, sender: Account, conversation_id: str, body: str, key: str | None = None
) -> httpx.Response:
    return client.post(
        f"/v1/chat/conversations/{conversation_id}/messages",
        json={"body": body, "idempotency_key": key or uuid.uuid4().hex},
        headers=sender.headers,
    )


def history(client: httpx.Client, reader: Account, conversation_id: str, **params: Any) -> httpx.Response:
    return client.get(
        f"/v1/chat/conversations/{conversation_id}/messages", params=params, headers=reader.headers
    )


def assert_json_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """`answer` is the JSON error body every service uses, with `status`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] and error["message"]
    return error


def ws_url(gateway_url: str, token: str) -> str:
    return gateway_url.replace("http://", "ws://", 1) + f"/v1/chat/ws?token={token}"


@contextlib.contextmanager
def chat_socket(gateway_url: str, account: Account) -> Iterator[ClientConnection]:
    """A chat WebSocket whose subscriptions are live (the `ready` event has arrived)."""
    with connect(ws_url(gateway_url, account.token), open_timeout=10, close_timeout=2) as socket:
        next_event(socket, "ready")
        yield socket


def next_event(socket: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next event of type `kind`, skipping others; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind!r} event within {timeout}s"
        try:
            event: dict[str, Any] = json.loads(socket.recv(timeout=remaining))
        except TimeoutError:
            raise AssertionError(f"no {kind!r} event within {timeout}s") from None
        if event.get("type") == kind:
            return event


def proxy_post(proxy_api: str, path: str, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{proxy_api}{path}", json=body, timeout=5.0)
    assert answer.status_code < 300, answer.text


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.2) -> None:
    """Poll `predicate()` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(interval)
