"""The chat API through the gateway on the hardened stack: membership, idempotency, paging, polls, presence,
live events and bad input."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import (
    DEGRADED,
    Account,
    assert_json_error,
    chat_socket,
    history,
    new_account,
    new_conversation,
    next_event,
    send,
    ws_url,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chaosgate.stack.launcher import LocalStack


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def trio(gateway: httpx.Client) -> tuple[Account, Account, Account]:
    return new_account(gateway), new_account(gateway), new_account(gateway)


def test_only_members_read_or_write_a_conversation(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, eve = trio
    conversation_id = new_conversation(gateway, ada, bob)
    assert send(gateway, bob, conversation_id, "members only").status_code == 201

    assert_json_error(history(gateway, eve, conversation_id), 403)
    assert_json_error(send(gateway, eve, conversation_id, "let me in"), 403)
    polled = gateway.get(f"/v1/chat/conversations/{conversation_id}/poll", headers=eve.headers)
    assert_json_error(polled, 403)
    mine = gateway.get("/v1/chat/conversations", headers=eve.headers)
    assert conversation_id not in [c["id"] for c in mine.json()["conversations"]]

    assert_json_error(history(gateway, eve, str(uuid.uuid4())), 404)
    assert_json_error(send(gateway, ada, str(uuid.uuid4()), "nobody here"), 404)


def test_a_retried_send_returns_the_same_message_once(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, _ = trio
    conversation_id = new_conversation(gateway, ada, bob)
    first = send(gateway, ada, conversation_id, "exactly once", key="retry-key")
    again = send(gateway, ada, conversation_id, "exactly once", key="retry-key")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["idempotency_key"] == "retry-key" and first.json()["sender_id"] == ada.user_id

    stored = history(gateway, bob, conversation_id).json()["messages"]
    assert [m["id"] for m in stored] == [first.json()["id"]]


def test_history_pages_newest_first_until_the_cursor_runs_out(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, _ = trio
    conversation_id = new_conversation(gateway, ada, bob)
    for i in range(7):
        assert send(gateway, ada if i % 2 else bob, conversation_id, f"m{i}").status_code == 201

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 3, **({"before": cursor} if cursor else {})}
        answer = history(gateway, ada, conversation_id, **params)
        assert answer.status_code == 200, answer.text
        pages.append([m["body"] for m in answer.json()["messages"]])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]


def test_polling_returns_what_is_newer_than_the_cursor(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, _ = trio
    conversation_id = new_conversation(gateway, ada, bob)
    url = f"/v1/chat/conversations/{conversation_id}/poll"
    send(gateway, ada, conversation_id, "before")
    seen = gateway.get(url, headers=bob.headers).json()
    assert [m["body"] for m in seen["messages"]] == ["before"]

    send(gateway, ada, conversation_id, "after 1")
    send(gateway, ada, conversation_id, "after 2")
    newer = gateway.get(url, params={"after": seen["next_after"]}, headers=bob.headers)
    assert newer.status_code == 200
    assert [m["body"] for m in newer.json()["messages"]] == ["after 1", "after 2"]
    caught_up = gateway.get(url, params={"after": newer.json()["next_after"]}, headers=bob.headers)
    assert caught_up.json()["messages"] == []


def test_polls_count_one_vote_per_member_and_retries_are_idempotent(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, eve = trio
    conversation_id = new_conversation(gateway, ada, bob)
    created = gateway.post(
        f"/v1/chat/conversations/{conversation_id}/polls",
        json={"question": "Lunch?", "options": ["pizza", "sushi", "salad"]},
        headers=ada.headers,
    )
    assert created.status_code == 201, created.text
    poll_id = created.json()["id"]
    votes = f"/v1/chat/polls/{poll_id}/votes"

    first = gateway.post(votes, json={"option": 1, "vote_id": "ada-1"}, headers=ada.headers)
    retry = gateway.post(votes, json={"option": 1, "vote_id": "ada-1"}, headers=ada.headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert_json_error(gateway.post(votes, json={"option": 0, "vote_id": "ada-2"}, headers=ada.headers), 409)
    assert gateway.post(votes, json={"option": 2, "vote_id": "bob-1"}, headers=bob.headers).status_code == 201
    assert_json_error(gateway.post(votes, json={"option": 0, "vote_id": "eve-1"}, headers=eve.headers), 403)
    assert_json_error(gateway.post(votes, json={"option": 9, "vote_id": "bob-2"}, headers=bob.headers), 400)

    tally = gateway.get(f"/v1/chat/polls/{poll_id}", headers=bob.headers)
    assert tally.status_code == 200
    assert tally.json()["tally"] == [0, 1, 1] and tally.json()["total_votes"] == 2
    assert_json_error(gateway.get(f"/v1/chat/polls/{poll_id}", headers=eve.headers), 403)
    assert_json_error(
        gateway.post(
            f"/v1/chat/conversations/{conversation_id}/polls",
            json={"question": "One option?", "options": ["only"]},
            headers=ada.headers,
        ),
        422,
    )


def test_presence_shows_who_sent_a_heartbeat(
    gateway: httpx.Client, trio: tuple[Account, Account, Account], running_stack: LocalStack
) -> None:
    ada, bob, eve = trio
    beat = gateway.post("/v1/chat/presence", headers=ada.headers)
    assert beat.status_code == 200 and beat.json()["online"] is True
    with chat_socket(running_stack.gateway_url, bob):  # a WebSocket counts as a heartbeat too
        answer = gateway.get(
            "/v1/chat/presence",
            params={"users": f"{ada.user_id},{bob.user_id},{eve.user_id}"},
            headers=eve.headers,
        )
    assert answer.status_code == 200 and DEGRADED not in answer.headers
    assert sorted(answer.json()["online"]) == sorted([ada.user_id, bob.user_id])


def test_sockets_get_messages_typing_and_pongs_from_any_sender(
    gateway: httpx.Client, trio: tuple[Account, Account, Account], running_stack: LocalStack
) -> None:
    ada, bob, _ = trio
    with (
        chat_socket(running_stack.gateway_url, bob) as bobs,
        chat_socket(running_stack.gateway_url, ada) as adas,
    ):
        # A conversation created after Bob connected reaches his socket too.
        conversation_id = new_conversation(gateway, ada, bob)
        assert next_event(bobs, "conversation")["conversation"]["id"] == conversation_id
        next_event(adas, "conversation")

        adas.send(json.dumps({"type": "typing", "conversation_id": conversation_id}))
        typing = next_event(bobs, "typing")
        assert typing == {"type": "typing", "conversation_id": conversation_id, "user_id": ada.user_id}

        sent = send(gateway, ada, conversation_id, "live")
        assert next_event(bobs, "message")["message"]["id"] == sent.json()["id"]
        assert next_event(adas, "message")["message"]["id"] == sent.json()["id"]

        bobs.send('{"type": "ping"}')
        assert next_event(bobs, "pong") == {"type": "pong"}
        bobs.send("not json")
        assert next_event(bobs, "error")["error"]["code"] == "malformed_json"


def test_bad_input_gets_a_4xx_json_error(
    gateway: httpx.Client, trio: tuple[Account, Account, Account], running_stack: LocalStack
) -> None:
    ada, bob, _ = trio
    conversation_id = new_conversation(gateway, ada, bob)
    url = f"/v1/chat/conversations/{conversation_id}/messages"
    json_headers = {**ada.headers, "content-type": "application/json"}

    assert_json_error(gateway.post(url, content=b'{"body": "unterminated', headers=json_headers), 400)
    assert_json_error(gateway.post(url, json={"body": 42, "idempotency_key": "k"}, headers=ada.headers), 422)
    assert_json_error(gateway.post(url, json={"body": "no key"}, headers=ada.headers), 422)
    assert_json_error(gateway.post(url, json={"body": "", "idempotency_key": "k"}, headers=ada.headers), 422)
    assert_json_error(send(gateway, ada, conversation_id, "x" * 4001), 413)
    assert send(gateway, ada, conversation_id, "x" * 4000).status_code == 201
    assert_json_error(history(gateway, ada, conversation_id, before="not-a-cursor"), 400)
    assert_json_error(history(gateway, ada, conversation_id, limit=0), 422)
    assert_json_error(
        gateway.post("/v1/chat/conversations", json={"members": "bob"}, headers=ada.headers), 422
    )
    assert_json_error(
        gateway.post(
            "/v1/chat/conversations",
            json={"members": [bob.user_id, "x"], "kind": "direct"},
            headers=ada.headers,
        ),
        400,
    )

    assert_json_error(gateway.get(url), 401)
    assert_json_error(gateway.get(url, headers={"Authorization": "Bearer not.a.jwt"}), 401)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(running_stack.gateway_url, "not.a.jwt"), open_timeout=10).close()
    assert refused.value.response.status_code == 401
