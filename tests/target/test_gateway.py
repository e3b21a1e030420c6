"""The gateway on the hardened stack: routing, WebSocket relay, health and metrics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chaosgate.stack.launcher import LocalStack


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def access_token(client: httpx.Client) -> str:
    email = f"gw-{uuid.uuid4().hex[:12]}@example.test"
    password = "correct horse battery"
    client.post("/v1/auth/register", json={"email": email, "password": password, "display_name": "Gw"})
    answer = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_unknown_routes_get_404_json(gateway: httpx.Client) -> None:
    for path in ("/v1/nothing/here", "/v2/auth/login", "/"):
        answer = gateway.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] in ("no_route", "not_found")


def test_methods_headers_and_bodies_pass_through(gateway: httpx.Client) -> None:
    token = access_token(gateway)
    me = gateway.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"].startswith("gw-")
    assert me.headers["content-type"].startswith("application/json")
    wrong_method = gateway.put("/v1/auth/login", json={})
    assert wrong_method.status_code == 405  # the backend's answer, relayed
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_chat_routes_reach_chat(gateway: httpx.Client) -> None:
    answer = gateway.get("/v1/chat/conversations")
    assert answer.status_code == 401  # chat's own refusal: no token
    assert answer.json()["error"]["code"]


def test_websocket_is_relayed_both_ways(running_stack: LocalStack, gateway: httpx.Client) -> None:
    token = access_token(gateway)
    url = running_stack.gateway_url.replace("http://", "ws://") + f"/v1/chat/ws?token={token}"
    with connect(url, open_timeout=5, close_timeout=2) as socket:
        ready = json.loads(socket.recv(timeout=5))
        assert ready["type"] == "ready"
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5))["type"] == "pong"


def test_websocket_refusal_is_passed_back(running_stack: LocalStack) -> None:
    url = running_stack.gateway_url.replace("http://", "ws://") + "/v1/chat/ws?token=forged"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["error"]["code"]


def test_ready_lists_backends_and_redis(gateway: httpx.Client) -> None:
    ready = gateway.get("/health/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert {"auth", "chat", "redis"} <= set(checks)
    assert gateway.get("/health/live").status_code == 200


def test_metrics_count_requests_by_route(gateway: httpx.Client) -> None:
    gateway.get("/v1/nothing/here")
    gateway.get("/v1/auth/no-such-thing")
    text = gateway.get("/metrics").text
    assert 'http_requests_total{method="GET",route="unmatched",service="gateway",status="404"}' in text
    assert 'http_requests_total{method="GET",route="/v1/auth/*",service="gateway",status="404"}' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'circuit_breaker_state{backend="auth",service="gateway"} 0.0' in text
