"""Waiting, bounded, for what the local runtime started: the fault proxy holding every link's proxy, a
service answering its readiness path. Each wait checks its process is still alive as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from chaosgate.errors import StackError
from chaosgate.stack.processes import ProcessRecord, tail

AliveCheck = Callable[[], None]  # raises StackError once the process has exited


def not_up(name: str, why: str, record: ProcessRecord) -> StackError:
    return StackError(f"{name} did not come up: {why}. Last lines of {record.log}:\n{tail(record.log, 15)}")


def populate_proxy(
    api_url: str,
    wanted: Mapping[str, dict[str, Any]],
    *,
    deadline: float,
    alive: AliveCheck,
    record: ProcessRecord,
) -> None:
    """Until the proxy API lists every proxy in `wanted`, creating the missing ones (`/populate`)."""
    with httpx.Client(base_url=api_url, timeout=2.0) as client:
        while True:
            try:
                listed = client.get("/proxies")
                if listed.status_code == 200:
                    missing = [spec for name, spec in wanted.items() if name not in listed.json()]
                    if not missing:
                        return
                    client.post("/populate", json=missing).raise_for_status()
                    continue
            except (httpx.HTTPError, ValueError):
                pass
            alive()
            if time.monotonic() > deadline:
                raise not_up("proxy", f"no answer from {api_url}/proxies", record)
            time.sleep(0.05)


def wait_ready(
    name: str, url: str, *, deadline: float, budget_s: float, alive: AliveCheck, record: ProcessRecord
) -> None:
    """Until `url` answers 200; the last answer is named when `deadline` passes."""
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            alive()
            if time.monotonic() > deadline:
                raise not_up(name, f"{url} did not answer 200 within {budget_s:.0f}s (last: {last})", record)
            time.sleep(0.1)
