"""Malformed input through the gateway on the hardened stack: a clean 4xx, never a 500 nor an open breaker.

Before the fix a NUL byte in a text field reached PostgreSQL (which refuses NUL in TEXT) and came back as
a 500; five in a row opened the gateway's breaker for every user of that backend.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaosgate.stack.launcher import LocalStack

PASSWORD = "correct horse battery"
BREAKER_CLOSED = 'circuit_breaker_state{backend="%s",service="gateway"} 0.0'


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def signed_in(gateway: httpx.Client) -> dict[str, str]:
    email = f"bad-input-{uuid.uuid4().hex[:12]}@example.test"
    gateway.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "B"})
    answer = gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def post_json(
    gateway: httpx.Client, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    # ensure_ascii: the NUL and the lone surrogate travel as JSON escapes, as a hostile client sends them.
    raw = json.dumps(body, ensure_ascii=True).encode()
    return gateway.post(path, content=raw, headers={**(headers or {}), "content-type": "application/json"})


def assert_client_error(answer: httpx.Response, what: str) -> None:
    assert answer.status_code in (400, 413, 422), f"{what}: {answer.status_code} {answer.text[:200]}"
    assert answer.json()["error"]["code"], what


@pytest.mark.parametrize("bad", ["nul\x00byte", "lone \ud800 surrogate", "bell\x07", "line\nbreak"])
def test_bad_characters_in_text_fields_get_a_4xx_with_an_error_body(gateway: httpx.Client, bad: str) -> None:
    auth = signed_in(gateway)
    conversation = gateway.post("/v1/chat/conversations", headers=auth, json={"members": ["someone"]})
    assert conversation.status_code == 201, conversation.text
    cid = conversation.json()["id"]
    fresh = f"{uuid.uuid4().hex}@example.test"
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "register email": ("/v1/auth/register", {"email": bad, "password": PASSWORD, "display_name": "x"}),
        "register name": ("/v1/auth/register", {"email": fresh, "password": PASSWORD, "display_name": bad}),
        "login": ("/v1/auth/login", {"email": f"{bad}@example.test", "password": PASSWORD}),
        "verify email": ("/v1/auth/verify-email", {"token": bad}),
        "chat member": ("/v1/chat/conversations", {"members": [bad]}),
        "chat title": ("/v1/chat/conversations", {"members": ["someone"], "title": bad}),
        "idempotency key": (f"/v1/chat/conversations/{cid}/messages", {"body": "hi", "idempotency_key": bad}),
        "call participant": ("/v1/video/calls", {"participants": [bad]}),
        "device token": ("/v1/push/devices", {"token": bad, "platform": "web"}),
    }
    if bad != "line\nbreak":  # a message body may span lines
        key = uuid.uuid4().hex
        requests["message body"] = (
            f"/v1/chat/conversations/{cid}/messages",
            {"body": bad, "idempotency_key": key},
        )
    for what, (path, body) in requests.items():
        assert_client_error(post_json(gateway, path, body, auth), what)
    quoted = httpx.QueryParams({"name": bad.replace("\ud800", "\x00")})
    assert_client_error(
        gateway.post(f"/v1/storage/files?{quoted}", headers=auth, content=b"data"), "file name"
    )
    # Written by hand: httpx would percent-escape the NUL in the file name.
    form = (
        b'--sep\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\ndata\r\n--sep--\r\n"
    )
    multipart_type = {"content-type": "multipart/form-data; boundary=sep"}
    multipart = gateway.post("/v1/storage/files", headers={**auth, **multipart_type}, content=form)
    assert_client_error(multipart, "multipart file name")
    for path in ("/v1/video/calls?client_ids=a%00b", "/v1/storage/files?client_ids=a%00b"):
        assert_client_error(gateway.get(path, headers=auth), path)


def test_a_flood_of_malformed_requests_leaves_every_breaker_closed(
    running_stack: LocalStack, gateway: httpx.Client
) -> None:
    auth = signed_in(gateway)
    for _ in range(12):  # more than twice the breaker's 5 consecutive failures
        body = {"email": "x\x00@example.test", "password": PASSWORD, "display_name": "\x00"}
        assert_client_error(post_json(gateway, "/v1/auth/register", body), "register")
        assert gateway.get("/v1/chat/conversations/%00/messages", headers=auth).status_code == 404
        assert gateway.get("/v1/auth/me", headers={"Authorization": "Bearer forged"}).status_code == 401
        assert_client_error(post_json(gateway, "/v1/video/calls", {"participants": "nope"}, auth), "video")
    metrics = gateway.get("/metrics").text
    for backend in ("auth", "chat", "video"):
        assert BREAKER_CLOSED % backend in metrics, backend
    assert gateway.get("/v1/auth/me", headers=auth).status_code == 200


def test_a_non_ascii_admin_token_is_a_403(gateway: httpx.Client) -> None:
    for path in ("/v1/auth/admin/cleanup", "/v1/video/admin/cleanup"):
        for value in ("é".encode(), b"\xff\xfe", "ü".encode("latin-1")):
            answer = gateway.post(path, headers={b"X-Admin-Token": value})
            assert answer.status_code == 403, (path, value, answer.text)
            assert answer.json()["error"]["code"] == "admin_only"


def raw_get(stack: LocalStack, path: bytes) -> tuple[int, bytes]:
    """One request written byte for byte (an HTTP client would normalise the path)."""
    host, port = stack.gateway_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_percent_encoded_bytes_in_a_path_reach_the_backend_still_encoded(running_stack: LocalStack) -> None:
    # Decoded before relaying, %00 made the gateway answer 500 and %0d%0a split the backend's request line.
    for path in (b"/v1/auth/%00", b"/v1/auth/%0d%0aX-Injected:%201", b"/v1/auth/%C3%A9", b"/v1/auth/a%3Fb"):
        status, body = raw_get(running_stack, path)
        assert status == 404, (path, status, body[:200])
        assert json.loads(body)["error"]["code"] == "not_found"
