"""The chat user's journey through the gateway: register, log in, talk, get it live, log out."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import chat_socket, history, new_account, new_conversation, next_event, send

from chaosgate.stack.launcher import LocalStack


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


def test_two_users_talk_live_and_a_logged_out_token_is_refused(
    gateway: httpx.Client, running_stack: LocalStack
) -> None:
    ada, bob = new_account(gateway), new_account(gateway)
    conversation_id = new_conversation(gateway, ada, bob, kind="direct")
    listed = gateway.get("/v1/chat/conversations", headers=bob.headers)
    assert listed.status_code == 200
    assert conversation_id in [c["id"] for c in listed.json()["conversations"]]

    with chat_socket(running_stack.gateway_url, bob) as bobs_socket:
        sent = send(gateway, ada, conversation_id, "hello Bob")
        assert sent.status_code == 201, sent.text
        assert "x-secureconnect-degraded" not in sent.headers
        live = next_event(bobs_socket, "message")
        assert live["message"] == sent.json()

    page = history(gateway, bob, conversation_id)
    assert page.status_code == 200
    assert [m["body"] for m in page.json()["messages"]] == ["hello Bob"]
    assert page.json()["messages"][0]["sender_id"] == ada.user_id

    assert gateway.post("/v1/auth/logout", headers=ada.headers).status_code == 204
    refused = send(gateway, ada, conversation_id, "am I still here?")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    assert gateway.get("/v1/chat/conversations", headers=ada.headers).status_code == 401
