"""Auth through the gateway on the hardened stack: the user's story, rotation, lockout, and bad input."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest

from chaosgate.stack.launcher import LocalStack

PASSWORD = "correct horse battery"
OTHER_SECRET = "someone-else-entirely-with-a-long-enough-key"


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def register(client: httpx.Client) -> str:
    email = f"user-{uuid.uuid4().hex[:12]}@example.test"
    answer = client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Ada"}
    )
    assert answer.status_code == 201, answer.text
    return email


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_login_me_logout_then_the_old_token_is_refused(gateway: httpx.Client) -> None:
    email = register(gateway)
    tokens = login(gateway, email)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0

    me = gateway.get("/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == email and me.json()["id"] == tokens["user_id"]
    assert "x-secureconnect-degraded" not in me.headers

    assert gateway.post("/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    refused = gateway.get("/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    ended = gateway.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert ended.status_code == 401


def test_register_twice_is_a_conflict(gateway: httpx.Client) -> None:
    email = register(gateway)
    again = gateway.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "B"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(gateway: httpx.Client) -> None:
    first = login(gateway, register(gateway))
    second = gateway.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert gateway.get("/v1/auth/me", headers=bearer(rotated["access_token"])).status_code == 200

    replay = gateway.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "refresh_reused"
    # The replay ended the whole session: the rotated pair is dead too.
    assert (
        gateway.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    )
    assert gateway.get("/v1/auth/me", headers=bearer(rotated["access_token"])).status_code == 401


def test_repeated_wrong_passwords_lock_the_account(gateway: httpx.Client) -> None:
    email = register(gateway)
    for _ in range(5):
        wrong = gateway.post("/v1/auth/login", json={"email": email, "password": "wrong password"})
        assert wrong.status_code == 401
    locked = gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert "retry-after" in locked.headers


def test_parallel_wrong_passwords_cannot_race_past_the_lockout(running_stack: LocalStack) -> None:
    # Read-then-verify-then-count let every guess of a burst read "0 failures" and be checked: the
    # lockout held only against a patient attacker. Counted first, at most 5 guesses are ever checked.
    with httpx.Client(base_url=running_stack.gateway_url, timeout=30.0) as gateway:
        email = register(gateway)

        def guess(n: int) -> int:
            body = {"email": email, "password": f"wrong password {n}"}
            return gateway.post("/v1/auth/login", json=body).status_code

        with ThreadPoolExecutor(max_workers=30) as pool:
            codes = list(pool.map(guess, range(30)))
        assert sorted(set(codes)) == [401, 429], codes
        assert codes.count(401) == 5, codes  # SC_LOCKOUT_MAX_ATTEMPTS
        locked = gateway.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert locked.status_code == 429 and locked.json()["error"]["code"] == "account_locked"


def test_a_successful_login_ends_the_count(gateway: httpx.Client) -> None:
    email = register(gateway)
    for _ in range(3):
        for _ in range(4):
            assert (
                gateway.post("/v1/auth/login", json={"email": email, "password": "nope nope"}).status_code
                == 401
            )
        login(gateway, email)  # four failures, then the right password: the count starts over
    assert gateway.post("/v1/auth/login", json={"email": email, "password": "nope nope"}).status_code == 401


def forged_tokens(stack: LocalStack) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "sid": "s", "jti": "j", "iat": now, "typ": "access"}
    return {
        "garbage": "not-a-jwt",
        "wrong_secret": jwt.encode({**claims, "exp": now + 60}, OTHER_SECRET, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 60}, stack.secret("jwt_secret"), algorithm="HS256"),
        "no_session": jwt.encode({**claims, "exp": now + 60}, stack.secret("jwt_secret"), algorithm="HS256"),
        "alg_none": jwt.encode({**claims, "exp": now + 60}, "", algorithm="none"),
    }


@pytest.mark.parametrize("kind", ["garbage", "wrong_secret", "expired", "no_session", "alg_none"])
def test_bad_tokens_get_401_json(gateway: httpx.Client, running_stack: LocalStack, kind: str) -> None:
    token = forged_tokens(running_stack)[kind]
    answer = gateway.get("/v1/auth/me", headers=bearer(token))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"]


JSON = {"content-type": "application/json"}
BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "malformed_json",
        "/v1/auth/login",
        {"content": b'{"email": ', "headers": JSON},
    ),
    ("not_an_object", "/v1/auth/login", {"json": ["email", "password"]}),
    ("wrong_types", "/v1/auth/login", {"json": {"email": 12, "password": ["x"]}}),
    ("missing_fields", "/v1/auth/register", {"json": {"email": "a@b.co"}}),
    (
        "bad_email",
        "/v1/auth/register",
        {"json": {"email": "nope", "password": PASSWORD, "display_name": "x"}},
    ),
    (
        "short_password",
        "/v1/auth/register",
        {"json": {"email": "a@b.co", "password": "1", "display_name": "x"}},
    ),
    ("null_body", "/v1/auth/refresh", {"json": None}),
    ("refresh_garbage", "/v1/auth/refresh", {"json": {"refresh_token": "garbage"}}),
    ("oversize", "/v1/auth/register", {"content": b"{" + b" " * (2 * 1024 * 1024) + b"}"}),
    ("no_token", "/v1/auth/logout", {}),
]


@pytest.mark.parametrize(("name", "path", "request_kwargs"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
@pytest.mark.parametrize("via", ["gateway", "auth"])
def test_bad_input_gets_a_4xx_json_error_never_a_500(
    running_stack: LocalStack, via: str, name: str, path: str, request_kwargs: dict[str, Any]
) -> None:
    base = running_stack.gateway_url if via == "gateway" else running_stack.url_of("auth")
    answer = httpx.post(base + path, timeout=10.0, **request_kwargs)
    assert 400 <= answer.status_code < 500, f"{name}: {answer.status_code} {answer.text[:200]}"
    assert answer.json()["error"]["code"]
    if name == "oversize":
        assert answer.status_code == 413
