"""LocalStack's API on a second stack (moved ports, stand-in services): env, restarts, crashes, down."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chaosgate.config import load_topology
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.processes import marked_processes

from .conftest import make_scratch_dir, write_config

# Away from chaos.yaml's ports (and round offsets others pick), so it runs beside them; moved with the
# session's ports (each xdist worker has its own: tests/conftest.py).
OFFSET = 1330 + int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0"))


@pytest.fixture(scope="module")
def stub_stack() -> Iterator[LocalStack]:
    """One stack for this module; the tests run in order and the last one takes it down."""
    directory = make_scratch_dir()
    config = write_config(directory, OFFSET, stub_services=True)
    stack = LocalStack(load_topology(config), profile="baseline", switches={"redis_retry": True}, grace=3)
    try:
        assert stack.up() is True
        yield stack
    finally:
        stack.down()
        shutil.rmtree(directory, ignore_errors=True)


def recorded_env(stack: LocalStack, service: str) -> dict[str, str]:
    return dict(json.loads((stack.run_dir / f"env-{service}.json").read_text()))


def test_services_get_the_contract_environment(stub_stack: LocalStack) -> None:
    topology = stub_stack.topology
    env = recorded_env(stub_stack, "gateway")
    assert env["SC_SERVICE"] == "gateway"
    assert env["SC_HOST"] == "127.0.0.1"
    assert env["SC_PORT"] == str(topology.services["gateway"].port)
    assert env["SC_PROFILE"] == "baseline"
    assert env["SC_SWITCHES"] == "redis_retry=on"
    assert env["SC_RUN_DIR"] == str(stub_stack.run_dir)
    assert env["SC_CHAT_URL"] == f"http://127.0.0.1:{topology.links['chat'].listen}"
    assert env["SC_JWT_SECRET"] == (stub_stack.run_dir / "jwt_secret").read_text().strip()
    assert len(env["SC_JWT_SECRET"]) >= 32
    assert recorded_env(stub_stack, "auth")["SC_JWT_SECRET"] == env["SC_JWT_SECRET"]


def test_state_file_records_every_process_with_its_start_time(stub_stack: LocalStack) -> None:
    state = json.loads((stub_stack.run_dir / "state.json").read_text())
    assert state["complete"] is True
    assert set(state["processes"]) == {*stub_stack.topology.stores, "proxy", *stub_stack.topology.services}
    for record in state["processes"].values():
        process = psutil.Process(record["pid"])
        assert abs(process.create_time() - record["started_at"]) < 0.5
        assert record["pgid"] == record["pid"]


def test_up_twice_does_nothing(stub_stack: LocalStack) -> None:
    pids = {name: stub_stack.pid_of(name) for name in ("redis", "proxy", "gateway")}
    again = LocalStack(stub_stack.topology, profile="hardened")
    assert again.up() is False
    assert {name: again.pid_of(name) for name in pids} == pids
    assert again.profile == "baseline"  # it reports what runs, it does not switch


def test_restart_services_keeps_stores_and_proxy(stub_stack: LocalStack) -> None:
    kept = {name: stub_stack.pid_of(name) for name in ("redis", "cockroach", "proxy")}
    old_gateway = stub_stack.pid_of("gateway")
    stub_stack.restart_services(profile="hardened", switches={})
    assert {name: stub_stack.pid_of(name) for name in kept} == kept
    assert stub_stack.pid_of("gateway") not in (None, old_gateway)
    assert recorded_env(stub_stack, "chat")["SC_PROFILE"] == "hardened"
    assert recorded_env(stub_stack, "chat")["SC_SWITCHES"] == ""
    assert stub_stack.status().profile == "hardened"
    assert not psutil.pid_exists(old_gateway or 0) or psutil.Process(old_gateway or 0).status() == "zombie"


def test_a_killed_service_shows_down_and_can_be_started_again(stub_stack: LocalStack) -> None:
    pid = stub_stack.pid_of("chat")
    stub_stack.kill_service("chat")
    assert stub_stack.pid_of("chat") is None
    status = stub_stack.status()
    assert not status.up
    assert not status.component("chat").alive and not status.component("chat").healthy
    assert status.component("auth").healthy
    stub_stack.start_service("chat")
    assert stub_stack.pid_of("chat") not in (None, pid)
    assert stub_stack.status().up


def test_down_leaves_no_process(stub_stack: LocalStack) -> None:
    pids = stub_stack.pids()
    assert len(pids) >= 7  # 3 stores (+ postgres children), proxy, 3 services
    stopped = stub_stack.down()
    assert set(stopped) >= {"redis", "cockroach", "cassandra", "proxy", "auth", "chat", "gateway"}
    assert [pid for pid in pids if _running(pid)] == []
    assert marked_processes(Path(stub_stack.run_dir)) == []
    assert stub_stack.down() == []


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
