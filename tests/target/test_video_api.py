"""The video API through the gateway on the hardened stack: calls and their states, idempotent creates,
read-back by client ids, and signaling between two and three participants over WebSockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import Account, assert_json_error, new_account, next_event
from test_video_support import new_call, nothing_of, signaling_socket, video_ws_url
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


def states(call: dict[str, object]) -> dict[str, str]:
    participants = call["participants"]
    assert isinstance(participants, list)
    return {p["user_id"]: p["state"] for p in participants}


def test_a_direct_call_rings_becomes_active_and_ends_when_the_last_one_leaves(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, eve = trio
    call = new_call(gateway, ada, bob, kind="direct")
    url = f"/v1/video/calls/{call['id']}"
    assert call["status"] == "ringing" and call["kind"] == "direct" and call["created_by"] == ada.user_id
    assert states(call) == {ada.user_id: "joined", bob.user_id: "invited"}

    joined = gateway.post(f"{url}/join", headers=bob.headers)
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "active"
    assert gateway.get(url, headers=bob.headers).json()["status"] == "active"

    first_out = gateway.post(f"{url}/leave", headers=ada.headers)
    assert first_out.json()["status"] == "active"  # Bob is still in it
    assert states(first_out.json())[ada.user_id] == "left"
    last_out = gateway.post(f"{url}/leave", headers=bob.headers)
    assert last_out.status_code == 200
    ended = gateway.get(url, headers=ada.headers).json()
    assert ended["status"] == "ended" and ended["end_reason"] == "last_participant_left"
    assert ended["ended_at"] is not None

    assert_json_error(gateway.post(f"{url}/join", headers=bob.headers), 409)
    assert_json_error(gateway.get(url, headers=eve.headers), 403)
    assert_json_error(gateway.post(f"{url}/join", headers=eve.headers), 403)
    assert_json_error(gateway.get(f"/v1/video/calls/{uuid.uuid4()}", headers=ada.headers), 404)
    assert_json_error(gateway.get("/v1/video/calls/not-a-call", headers=ada.headers), 404)
    assert_json_error(gateway.get(url), 401)


def test_a_retried_create_returns_the_same_call_and_client_ids_read_calls_back(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, cy = trio
    key = f"ledger-{uuid.uuid4().hex}"
    body = {"participants": [bob.user_id, cy.user_id], "kind": "group", "client_call_id": key}
    first = gateway.post("/v1/video/calls", json=body, headers=ada.headers)
    again = gateway.post("/v1/video/calls", json=body, headers=ada.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and first.json()["client_call_id"] == key
    other = new_call(gateway, ada, bob, client_call_id=f"ledger-{uuid.uuid4().hex}")

    read_back = gateway.get(
        "/v1/video/calls", params={"client_ids": f"{key},never-written"}, headers=ada.headers
    )
    assert read_back.status_code == 200
    assert [c["id"] for c in read_back.json()["calls"]] == [first.json()["id"]]
    # Client ids belong to their creator: Bob cannot read Ada's back.
    assert gateway.get("/v1/video/calls", params={"client_ids": key}, headers=bob.headers).json() == {
        "calls": []
    }
    mine = gateway.get("/v1/video/calls", headers=cy.headers).json()["calls"]
    assert [c["id"] for c in mine] == [first.json()["id"]]
    assert {c["id"] for c in gateway.get("/v1/video/calls", headers=bob.headers).json()["calls"]} == {
        first.json()["id"],
        other["id"],
    }


def test_a_group_call_stays_up_until_its_last_participant_leaves(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, cy = trio
    call = new_call(gateway, ada, bob, cy)
    url = f"/v1/video/calls/{call['id']}"
    assert gateway.post(f"{url}/join", headers=bob.headers).json()["status"] == "active"
    assert gateway.post(f"{url}/join", headers=cy.headers).json()["status"] == "active"
    for leaver in (ada, cy):
        assert gateway.post(f"{url}/leave", headers=leaver.headers).json()["status"] == "active"
    assert gateway.post(f"{url}/leave", headers=bob.headers).json()["status"] == "ended"


def test_bad_creates_get_a_4xx_json_error(
    gateway: httpx.Client, trio: tuple[Account, Account, Account]
) -> None:
    ada, bob, cy = trio
    calls = "/v1/video/calls"
    too_many = {"participants": [bob.user_id, cy.user_id], "kind": "direct"}
    assert_json_error(gateway.post(calls, json=too_many, headers=ada.headers), 400)
    alone = {"participants": [ada.user_id], "kind": "group"}
    assert_json_error(gateway.post(calls, json=alone, headers=ada.headers), 400)
    assert_json_error(gateway.post(calls, json={"participants": "bob"}, headers=ada.headers), 422)
    assert_json_error(
        gateway.post(calls, json={"participants": [bob.user_id], "kind": "x"}, headers=ada.headers), 422
    )


def test_signaling_relays_offer_answer_and_ice_between_two_participants(
    gateway: httpx.Client, trio: tuple[Account, Account, Account], running_stack: LocalStack
) -> None:
    ada, bob, eve = trio
    with (
        signaling_socket(running_stack.gateway_url, ada) as adas,
        signaling_socket(running_stack.gateway_url, bob) as bobs,
        signaling_socket(running_stack.gateway_url, eve) as eves,
    ):
        call = new_call(gateway, ada, bob, kind="direct")
        assert next_event(bobs, "call")["call"]["id"] == call["id"]  # Bob's phone rings

        offer = {"type": "offer", "call_id": call["id"], "payload": {"sdp": "v=0 offer"}}
        adas.send(json.dumps(offer))
        got = next_event(bobs, "offer")
        assert got == {
            "type": "offer",
            "call_id": call["id"],
            "from": ada.user_id,
            "payload": {"sdp": "v=0 offer"},
        }

        bobs.send(
            json.dumps({"type": "answer", "call_id": call["id"], "to": ada.user_id, "payload": "v=0 ans"})
        )
        assert next_event(adas, "answer")["payload"] == "v=0 ans"
        bobs.send(json.dumps({"type": "ice", "call_id": call["id"], "payload": {"candidate": "c1"}}))
        assert next_event(adas, "ice")["payload"] == {"candidate": "c1"}

        # Only participants may signal a call, and only to its participants.
        eves.send(json.dumps({"type": "offer", "call_id": call["id"], "payload": "sneaky"}))
        assert next_event(eves, "error")["error"]["code"] == "forbidden"
        adas.send(json.dumps({"type": "offer", "call_id": call["id"], "to": eve.user_id, "payload": "x"}))
        assert next_event(adas, "error")["error"]["code"] == "bad_request"
        assert nothing_of(eves, "offer") and nothing_of(bobs, "offer", wait=0.2)

        adas.send("not json")
        assert next_event(adas, "error")["error"]["code"] == "malformed_json"
        adas.send('{"type": "ping"}')
        assert next_event(adas, "pong") == {"type": "pong"}

        # Once the call has ended, nobody signals it any more.
        gateway.post(f"/v1/video/calls/{call['id']}/leave", headers=ada.headers)
        ended = gateway.post(f"/v1/video/calls/{call['id']}/leave", headers=bob.headers).json()
        assert ended["status"] == "ended"
        next_event(adas, "call")


def test_signaling_in_a_group_call_reaches_every_other_participant_or_the_one_named(
    gateway: httpx.Client, trio: tuple[Account, Account, Account], running_stack: LocalStack
) -> None:
    ada, bob, cy = trio
    call = new_call(gateway, ada, bob, cy)
    with (
        signaling_socket(running_stack.gateway_url, ada) as adas,
        signaling_socket(running_stack.gateway_url, bob) as bobs,
        signaling_socket(running_stack.gateway_url, cy) as cys,
    ):
        adas.send(json.dumps({"type": "offer", "call_id": call["id"], "payload": "to all"}))
        for socket in (bobs, cys):
            assert next_event(socket, "offer")["from"] == ada.user_id
        assert nothing_of(adas, "offer", wait=0.3)  # never echoed to the sender

        cys.send(
            json.dumps({"type": "answer", "call_id": call["id"], "to": bob.user_id, "payload": "cy->bob"})
        )
        assert next_event(bobs, "answer") == {
            "type": "answer",
            "call_id": call["id"],
            "from": cy.user_id,
            "payload": "cy->bob",
        }
        assert nothing_of(adas, "answer", wait=0.3)

        # Someone who left no longer gets the group's signals.
        gateway.post(f"/v1/video/calls/{call['id']}/leave", headers=cy.headers)
        bobs.send(json.dumps({"type": "ice", "call_id": call["id"], "payload": "after cy left"}))
        assert next_event(adas, "ice")["payload"] == "after cy left"
        assert nothing_of(cys, "ice", wait=0.3)


def test_a_socket_without_a_valid_token_is_refused(running_stack: LocalStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(video_ws_url(running_stack.gateway_url, "not-a-token"), open_timeout=5).close()
    assert refused.value.response.status_code == 401
