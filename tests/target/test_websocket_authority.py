"""WebSockets live no longer than their token, and one account cannot hold every socket of a process.

Before the fix a chat or signaling socket stayed open after its user logged out and after its token
expired, and the only cap was per process (per backend at the gateway): one account could open them
all and lock everyone else out of chat.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chaosgate.stack.launcher import LocalStack

PASSWORD = "correct horse battery"
USER_CAP = 20  # SC_WS_USER_CAP's default
PATHS = ("/v1/chat/ws", "/v1/video/ws")


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def signed_up(gateway: httpx.Client) -> tuple[str, dict[str, Any]]:
    email = f"ws-{uuid.uuid4().hex[:12]}@example.test"
    gateway.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "W"})
    return email, log_in(gateway, email)


def log_in(gateway: httpx.Client, email: str) -> dict[str, Any]:
    answer = gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


@contextlib.contextmanager
def open_socket(stack: LocalStack, path: str, token: str) -> Iterator[ClientConnection]:
    url = stack.gateway_url.replace("http://", "ws://") + f"{path}?token={token}"
    with connect(url, open_timeout=5, close_timeout=1) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "ready"
        yield socket


def close_of(socket: ClientConnection, within: float) -> tuple[int, str]:
    """The code and reason the server closes `socket` with, waiting at most `within` seconds."""
    deadline = time.monotonic() + within
    with pytest.raises(ConnectionClosed) as closed:  # reads until the close arrives
        while True:
            socket.recv(timeout=max(0.01, deadline - time.monotonic()))
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def still_open(socket: ClientConnection) -> bool:
    socket.send(json.dumps({"type": "ping"}))
    return any('"pong"' in str(socket.recv(timeout=5)) for _ in range(5))


def test_logout_closes_the_sessions_websockets_and_only_those(
    running_stack: LocalStack, gateway: httpx.Client
) -> None:
    email, tokens = signed_up(gateway)
    other_session = log_in(gateway, email)
    with contextlib.ExitStack() as sockets:
        mine = [sockets.enter_context(open_socket(running_stack, p, tokens["access_token"])) for p in PATHS]
        others = [
            sockets.enter_context(open_socket(running_stack, p, other_session["access_token"])) for p in PATHS
        ]
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert gateway.post("/v1/auth/logout", headers=headers).status_code == 204
        for path, socket in zip(PATHS, mine, strict=True):
            assert close_of(socket, within=5.0) == (1008, "token revoked"), path
        for path, socket in zip(PATHS, others, strict=True):
            assert still_open(socket), path  # the user's other session is not logged out


def test_a_websocket_closes_when_its_token_expires(running_stack: LocalStack, gateway: httpx.Client) -> None:
    _, tokens = signed_up(gateway)
    # The same session, re-signed with the stack's secret to expire in 2 s (the real lifetime is 15 min).
    claims = jwt.decode(tokens["access_token"], running_stack.secret("jwt_secret"), algorithms=["HS256"])
    secret = running_stack.secret("jwt_secret")
    short = jwt.encode({**claims, "jti": uuid.uuid4().hex, "exp": int(time.time()) + 2}, secret, "HS256")
    with contextlib.ExitStack() as sockets:
        opened = [sockets.enter_context(open_socket(running_stack, p, short)) for p in PATHS]
        for path, socket in zip(PATHS, opened, strict=True):
            assert close_of(socket, within=6.0) == (1008, "token expired"), path


def test_one_account_cannot_take_every_socket(running_stack: LocalStack, gateway: httpx.Client) -> None:
    _, hog = signed_up(gateway)
    _, other = signed_up(gateway)
    with contextlib.ExitStack() as sockets:
        for path in PATHS:
            for _ in range(USER_CAP):
                sockets.enter_context(open_socket(running_stack, path, hog["access_token"]))
            with (
                pytest.raises(InvalidStatus) as refused,
                open_socket(running_stack, path, hog["access_token"]),
            ):
                pass
            assert refused.value.response.status_code == 429, path
            body = json.loads(bytes(refused.value.response.body or b"{}"))
            assert body["error"]["code"] == "too_many_sockets", path
            assert still_open(sockets.enter_context(open_socket(running_stack, path, other["access_token"])))
    # Closed sockets give their places back.
    with contextlib.ExitStack() as sockets:
        for path in PATHS:
            assert still_open(sockets.enter_context(open_socket(running_stack, path, hog["access_token"])))
