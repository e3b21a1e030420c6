"""The storage API through the gateway on the hardened stack: uploads (raw and multipart), idempotent
retries by client file id, read-back, downloads, owner-only access, deletes and the size limit."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_chat_support import Account, assert_json_error, new_account

from chaosgate.stack.launcher import LocalStack

FILES = "/v1/storage/files"
LIMIT = 5 * 1024 * 1024  # SC_STORAGE_MAX_FILE_BYTES's default


@pytest.fixture
def gateway(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.gateway_url, timeout=20.0) as client:
        yield client


@pytest.fixture
def pair(gateway: httpx.Client) -> tuple[Account, Account]:
    return new_account(gateway), new_account(gateway)


def upload_raw(
    client: httpx.Client, owner: Account, data: bytes, name: str, client_file_id: str | None = None
) -> httpx.Response:
    params = {"name": name, **({"client_file_id": client_file_id} if client_file_id else {})}
    headers = {**owner.headers, "content-type": "application/pdf"}
    return client.post(FILES, params=params, content=data, headers=headers)


def test_a_raw_upload_downloads_byte_for_byte_and_a_retry_stores_it_once(
    gateway: httpx.Client, pair: tuple[Account, Account]
) -> None:
    ada, _ = pair
    data = os.urandom(300_000)
    key = f"ledger-{uuid.uuid4().hex}"
    first = upload_raw(gateway, ada, data, "report.pdf", key)
    again = upload_raw(gateway, ada, data, "report.pdf", key)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    stored = first.json()
    assert again.json() == stored
    assert (
        stored["name"] == "report.pdf" and stored["size"] == len(data) and stored["owner_id"] == ada.user_id
    )
    assert stored["content_type"] == "application/pdf" and stored["client_file_id"] == key
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()

    download = gateway.get(f"{FILES}/{stored['id']}", headers=ada.headers)
    assert download.status_code == 200
    assert download.content == data and download.headers["content-type"] == "application/pdf"
    assert "report.pdf" in download.headers["content-disposition"]
    assert gateway.get(f"{FILES}/{stored['id']}/meta", headers=ada.headers).json() == stored

    mine = gateway.get(FILES, headers=ada.headers).json()["files"]
    assert [f["id"] for f in mine] == [stored["id"]]  # the retry stored nothing new
    read_back = gateway.get(FILES, params={"client_ids": f"{key},never-written"}, headers=ada.headers)
    assert [f["client_file_id"] for f in read_back.json()["files"]] == [key]


def test_a_multipart_upload_takes_the_file_name_and_the_client_id_from_the_form(
    gateway: httpx.Client, pair: tuple[Account, Account]
) -> None:
    ada, _ = pair
    key = f"form-{uuid.uuid4().hex}"
    files = {"file": ("notes.txt", b"hello storage", "text/plain")}
    answer = gateway.post(FILES, files=files, data={"client_file_id": key}, headers=ada.headers)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["name"], answer.json()["client_file_id"]) == ("notes.txt", key)
    retry = gateway.post(FILES, files=files, data={"client_file_id": key}, headers=ada.headers)
    assert retry.status_code == 200 and retry.json()["id"] == answer.json()["id"]
    download = gateway.get(f"{FILES}/{answer.json()['id']}", headers=ada.headers)
    assert download.content == b"hello storage" and download.headers["content-type"].startswith("text/plain")

    no_file = gateway.post(
        FILES, data={"client_file_id": "x"}, files={"other": ("a", b"b")}, headers=ada.headers
    )
    assert_json_error(no_file, 400)


def test_only_the_owner_reads_or_deletes_a_file(gateway: httpx.Client, pair: tuple[Account, Account]) -> None:
    ada, eve = pair
    stored = upload_raw(gateway, ada, b"private", "diary.txt").json()
    url = f"{FILES}/{stored['id']}"
    assert_json_error(gateway.get(url, headers=eve.headers), 403)
    assert_json_error(gateway.get(f"{url}/meta", headers=eve.headers), 403)
    assert_json_error(gateway.delete(url, headers=eve.headers), 403)
    assert gateway.get(FILES, headers=eve.headers).json() == {"files": []}
    assert_json_error(gateway.get(url), 401)

    assert gateway.delete(url, headers=ada.headers).status_code == 204
    assert_json_error(gateway.get(url, headers=ada.headers), 404)
    assert_json_error(gateway.delete(url, headers=ada.headers), 404)
    assert_json_error(gateway.get(f"{FILES}/{uuid.uuid4()}", headers=ada.headers), 404)
    assert_json_error(gateway.get(f"{FILES}/not-an-id", headers=ada.headers), 404)


def test_files_up_to_the_limit_are_stored_and_larger_ones_get_413(
    gateway: httpx.Client, pair: tuple[Account, Account]
) -> None:
    ada, _ = pair
    at_limit = upload_raw(gateway, ada, os.urandom(LIMIT), "big.bin")
    assert at_limit.status_code == 201, at_limit.text
    assert at_limit.json()["size"] == LIMIT
    too_big = upload_raw(gateway, ada, os.urandom(LIMIT + 1), "bigger.bin")
    assert assert_json_error(too_big, 413)["code"] == "file_too_large"
    multipart = gateway.post(FILES, files={"file": ("b.bin", os.urandom(LIMIT + 1))}, headers=ada.headers)
    assert_json_error(multipart, 413)
    assert [f["name"] for f in gateway.get(FILES, headers=ada.headers).json()["files"]] == ["big.bin"]


def test_a_raw_upload_needs_a_name(gateway: httpx.Client, pair: tuple[Account, Account]) -> None:
    ada, _ = pair
    assert_json_error(gateway.post(FILES, content=b"x", headers=ada.headers), 400)
    assert_json_error(upload_raw(gateway, ada, b"x", "n" * 300), 400)
