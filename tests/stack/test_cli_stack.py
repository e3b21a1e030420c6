"""`chaosgate stack up/status/logs/down` as a user runs them, including a CLI killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from chaosgate.config import load_topology
from chaosgate.stack.processes import marked_processes

from .conftest import run_cli, write_config

# Away from chaos.yaml's ports and from test_launcher's, so stacks can run side by side; moved with the
# session's ports (each xdist worker has its own: tests/conftest.py).
OFFSET = 1170 + int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0"))


def leftovers(run_dir: Path) -> list[str]:
    return [f"{p.pid} {p.name()}" for p in marked_processes(run_dir)]


def assert_gone(pids: list[int]) -> None:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    assert alive == []


def test_up_status_logs_down(scratch_dir: Path) -> None:
    config = write_config(scratch_dir, OFFSET)
    run_dir = scratch_dir / "run"
    common = ("--config", str(config))
    try:
        up = run_cli("stack", "up", "--profile", "hardened", *common)
        assert up.returncode == 0, up.stderr
        assert "gateway" in up.stdout and f"http://127.0.0.1:{18080 + OFFSET}" in up.stdout

        status = run_cli("stack", "status", "--json", *common)
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["up"] is True
        assert report["run_dir"] == str(run_dir.resolve())
        assert report["gateway_url"] == f"http://127.0.0.1:{18080 + OFFSET}"
        names = {c["name"]: c for c in report["components"]}
        topology = load_topology(config)
        assert set(names) == {*topology.stores, "proxy", *topology.services}
        assert {"redis", "cockroach", "cassandra", "auth", "chat", "gateway"} <= set(names)
        assert all(c["healthy"] and c["pid"] for c in names.values()), names
        assert {p["name"] for p in report["proxies"]} == set(topology.links)
        pids = [
            pid
            for pid in (psutil.Process(c["pid"]) for c in names.values())
            for pid in [pid.pid, *(child.pid for child in pid.children(recursive=True))]
        ]

        again = run_cli("stack", "up", *common)
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert (
            json.loads(run_cli("stack", "status", "--json", *common).stdout)["components"]
            == report["components"]
        )

        human = run_cli("stack", "status", *common)
        assert human.returncode == 0 and "healthy" in human.stdout

        logs = run_cli("stack", "logs", "cockroach", "-n", "5", *common)
        assert logs.returncode == 0 and logs.stdout.strip()
        assert run_cli("stack", "logs", "nosuch", *common).returncode == 2
    finally:
        down = run_cli("stack", "down", *common)
    assert down.returncode == 0, down.stderr
    assert "stack is down" in down.stdout
    assert_gone(pids)
    assert leftovers(run_dir) == []
    after = run_cli("stack", "status", "--json", *common)
    assert after.returncode == 3
    assert json.loads(after.stdout)["up"] is False


def start_cli_and_kill_it(config: Path, run_dir: Path, *, once_recorded: str) -> None:
    """Run `stack up` and SIGKILL it as soon as state.json names `once_recorded`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosgate", "stack", "up", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if once_recorded in json.loads((run_dir / "state.json").read_text())["processes"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        else:
            raise AssertionError(f"{once_recorded} never appeared in state.json")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_up_is_cleaned_by_the_next_up_and_by_down(scratch_dir: Path) -> None:
    config = write_config(scratch_dir, OFFSET)
    run_dir = scratch_dir / "run"
    common = ("--config", str(config))
    try:
        start_cli_and_kill_it(config, run_dir, once_recorded="proxy")
        orphans = leftovers(run_dir)
        assert orphans, "the killed CLI should have left its stores running"

        up = run_cli("stack", "up", *common)
        assert up.returncode == 0, up.stderr
        assert "already running" not in up.stdout
        assert "leftover" in up.stderr
        status = json.loads(run_cli("stack", "status", "--json", *common).stdout)
        assert status["up"] is True
        orphan_pids = [int(o.split()[0]) for o in orphans]
        assert not {c["pid"] for c in status["components"]} & set(orphan_pids)
        assert_gone(orphan_pids)
    finally:
        down = run_cli("stack", "down", *common)
    assert down.returncode == 0, down.stderr
    assert leftovers(run_dir) == []


def test_a_cli_killed_during_the_first_start_is_cleaned_by_down(scratch_dir: Path) -> None:
    config = write_config(scratch_dir, OFFSET)
    run_dir = scratch_dir / "run"
    # Killed while initdb or the first store is starting: the earliest point anything runs.
    start_cli_and_kill_it(config, run_dir, once_recorded="redis")
    time.sleep(0.3)  # let whatever was being spawned finish its exec
    try:
        assert leftovers(run_dir)
    finally:
        down = run_cli("stack", "down", "--config", str(config))
    assert down.returncode == 0, down.stderr
    assert leftovers(run_dir) == []


def test_a_port_in_use_exits_3_with_one_clear_line(scratch_dir: Path) -> None:
    config = write_config(scratch_dir, OFFSET)
    port = 15433 + OFFSET  # the cassandra store's port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_cli("stack", "up", "--config", str(config))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "store cassandra" in lines[0]
    assert f"pid {os.getpid()}" in lines[0]
    assert leftovers(scratch_dir / "run") == []


def test_a_service_that_dies_at_start_is_named_with_its_log_and_nothing_is_left(scratch_dir: Path) -> None:
    crash = "import os, sys; print('boom: cannot start', os.environ['SC_SERVICE']); sys.exit(1)"
    config = write_config(scratch_dir, OFFSET, command=["{python}", "-c", crash])
    result = run_cli("stack", "up", "--config", str(config))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "did not come up: the process exited" in result.stderr
    # auth and chat start together; whichever is waited for first is the one named.
    assert "boom: cannot start auth" in result.stderr or "boom: cannot start chat" in result.stderr
    assert leftovers(scratch_dir / "run") == []
