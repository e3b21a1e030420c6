"""Helpers the push tests share (this module holds no tests): the simulator's control plane and records."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from test_chat_support import Account

from chaosgate.stack.launcher import LocalStack

SERVER_KEY = "secureconnect-push-server-key"
SEND_PATH = "/v1/projects/secureconnect/messages:send"


class Simulator:
    """The push-provider simulator, reached directly on its service port (the harness's view)."""

    def __init__(self, stack: LocalStack) -> None:
        self.url = stack.url_of("push-provider")
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    def mode(self, mode: str, **params: int) -> dict[str, Any]:
        answer = self.http.post("/control/mode", json={"mode": mode, **params})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def last_seq(self) -> int:
        return int(self.http.get("/control/received", params={"limit": 1}).json()["last_seq"])

    def received(self, since: int, outcome: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since, "limit": 10_000}
        if outcome:
            params["outcome"] = outcome
        answer = self.http.get("/control/received", params=params)
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, Any]] = answer.json()["received"]
        return entries

    def send(self, token: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        body = {"message": {"token": token, "notification": {"title": "t"}, "data": data or {}}}
        headers = {"Authorization": f"Bearer {SERVER_KEY}"}
        return self.http.post(SEND_PATH, json=body, headers=headers, **kwargs)


@contextlib.contextmanager
def simulator_of(stack: LocalStack) -> Iterator[Simulator]:
    """The simulator, put back in mode ok afterwards whatever the block did (tests' `simulator` fixture)."""
    sim = Simulator(stack)
    sim.mode("ok")
    try:
        yield sim
    finally:
        sim.mode("ok")
        sim.http.close()


def register_device(client: httpx.Client, account: Account, token: str | None = None) -> str:
    token = token or f"device-{uuid.uuid4().hex}"
    answer = client.post(
        "/v1/push/devices", json={"token": token, "platform": "android"}, headers=account.headers
    )
    assert answer.status_code == 201, answer.text
    return token


def metric(stack: LocalStack, service: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples on `service`'s /metrics whose labels include `labels`."""
    text = httpx.get(stack.url_of(service) + "/metrics", timeout=5.0).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    """The first truthy `predicate()`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(interval)
