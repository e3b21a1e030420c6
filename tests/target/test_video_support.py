"""Helpers the video tests share (this module holds no tests): calls, signaling sockets, metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
from test_chat_support import Account, next_event
from websockets.sync.client import ClientConnection, connect


def new_call(
    client: httpx.Client,
    caller: Account,
    *others: Account,
    kind: str = "group",
    client_call_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"participants": [o.user_id for o in others], "kind": kind}
    if client_call_id is not None:
        body["client_call_id"] = client_call_id
    answer = client.post("/v1/video/calls", json=body, headers=caller.headers)
    assert answer.status_code == 201, answer.text
    call: dict[str, Any] = answer.json()
    return call


def video_ws_url(gateway_url: str, token: str) -> str:
    return gateway_url.replace("http://", "ws://", 1) + f"/v1/video/ws?token={token}"


@contextlib.contextmanager
def signaling_socket(gateway_url: str, account: Account) -> Iterator[ClientConnection]:
    """A signaling WebSocket whose channel is live (the `ready` frame has arrived)."""
    with connect(video_ws_url(gateway_url, account.token), open_timeout=10, close_timeout=2) as socket:
        assert next_event(socket, "ready")["user_id"] == account.user_id
        yield socket


def nothing_of(socket: ClientConnection, kind: str, wait: float = 0.5) -> bool:
    """True when no frame of type `kind` arrives within `wait` seconds."""
    try:
        next_event(socket, kind, timeout=wait)
    except AssertionError:
        return True
    return False


def service_metric(base_url: str, name: str) -> float:
    """The sum of a metric's samples, read from the service itself (the gateway does not route /metrics)."""
    text = httpx.get(f"{base_url}/metrics", timeout=5.0).text
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    ]
    return sum(values)


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started
