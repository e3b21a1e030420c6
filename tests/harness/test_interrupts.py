"""Rollback cannot be skipped: SIGINT, SIGTERM and SIGKILL in the middle of a fault leave nothing broken."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from chaosgate.faults import FaultLedger
from chaosgate.stack.launcher import LocalStack

# A given capacity (as in tests/probes and tests/load): what a signal does to a run under load is the
# point here, not the load's level; calibration has tests of its own (tests/load/test_calibrate.py).
NO_CALIBRATION = ("--capacity", "60")


def start_run(config: Path, stack: LocalStack, out: Path, scenario: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosgate",
            "run",
            scenario,
            "--config",
            str(config),
            "--run-dir",
            str(stack.run_dir),
            "--out",
            str(out),
            "--time-scale",
            "1",
            *NO_CALIBRATION,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_journal(out: Path, needle: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for journal in out.glob("*/journal.jsonl"):
            if needle in journal.read_text():
                return
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never appeared in the journal under {out}")


def proxies(stack: LocalStack) -> dict[str, dict[str, object]]:
    return dict(httpx.get(f"{stack.proxy_api_url}/proxies", timeout=5).json())


def assert_nothing_broken(stack: LocalStack) -> None:
    for name, proxy in proxies(stack).items():
        assert proxy["enabled"], f"proxy {name} left disabled"
        assert proxy["toxics"] == [], f"toxics left on {name}: {proxy['toxics']}"
    for service in stack.services:
        pid = stack.pid_of(service)
        assert pid is not None, f"{service} left dead"
        assert psutil.Process(pid).status() != psutil.STATUS_STOPPED, f"{service} left stopped"
    assert FaultLedger(stack.run_dir / "fault-ledger.jsonl").active() == []


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watchdogs(stack: LocalStack) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "chaosgate.watchdog" in cmdline and str(stack.run_dir) in cmdline:
            found.append(process)
    return found


def test_sigint_mid_fault_rolls_back_and_exits_130(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    run = start_run(stack_config, running_stack, tmp_path, "redis-down")
    try:
        wait_for_journal(tmp_path, '"event": "verified"')
        assert proxies(running_stack)["redis"]["enabled"] is False, "the fault is on"
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "rolled back" in stderr
    assert_nothing_broken(running_stack)


def test_sigterm_mid_crash_restarts_the_killed_service(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    before = running_stack.pid_of("chat")
    run = start_run(stack_config, running_stack, tmp_path, "service-crash")
    try:
        wait_for_journal(tmp_path, '"event": "verified"')
        assert (
            not psutil.pid_exists(before or 0) or psutil.Process(before or 0).status() == psutil.STATUS_ZOMBIE
        )
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert_nothing_broken(running_stack)
    assert running_stack.pid_of("chat") not in (None, before)


def test_sigint_mid_flood_leaves_no_connection_behind(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    gateway_port = running_stack.topology.services["gateway"].port
    run = start_run(stack_config, running_stack, tmp_path, "websocket-flood")
    try:
        wait_for_journal(tmp_path, '"event": "verified"')
        time.sleep(1.0)
        flooding = [
            c for c in psutil.Process(run.pid).net_connections() if c.raddr and c.raddr.port == gateway_port
        ]
        assert len(flooding) > 50, "the flood is on"
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130
    assert not psutil.pid_exists(run.pid)
    assert_nothing_broken(running_stack)


def test_a_sigkilled_runner_is_cleaned_up_by_its_watchdog(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    run = start_run(stack_config, running_stack, tmp_path, "redis-down")
    wait_for_journal(tmp_path, '"event": "verified"')
    assert proxies(running_stack)["redis"]["enabled"] is False
    run.kill()
    run.communicate(timeout=10)
    deadline = time.monotonic() + 15
    while not proxies(running_stack)["redis"]["enabled"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert_nothing_broken(running_stack)
    deadline = time.monotonic() + 10  # its work done, the watchdog compacts the ledger and exits
    while any(alive(w) for w in watchdogs(running_stack)):
        assert time.monotonic() < deadline, "the watchdog outlived its runner and its faults"
        time.sleep(0.1)


def test_when_runner_and_watchdog_both_die_the_next_run_sweeps(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    run = start_run(stack_config, running_stack, first, "redis-down")
    wait_for_journal(first, '"event": "verified"')
    for watchdog in watchdogs(running_stack):
        watchdog.kill()
    run.kill()
    run.communicate(timeout=10)
    time.sleep(0.5)
    assert proxies(running_stack)["redis"]["enabled"] is False, "nobody removed the fault"
    assert len(FaultLedger(running_stack.run_dir / "fault-ledger.jsonl").active()) == 1

    second = tmp_path / "second"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosgate",
            "run",
            "redis-flaky",
            "--config",
            str(stack_config),
            "--run-dir",
            str(running_stack.run_dir),
            "--out",
            str(second),
            "--time-scale",
            "0.2",
            *NO_CALIBRATION,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "Traceback" not in result.stderr
    assert "sweeping 1 fault(s) left by an earlier run" in result.stderr
    journal = next(second.glob("*/journal.jsonl")).read_text().splitlines()
    assert any(json.loads(line).get("text", "").startswith("sweeping 1 fault") for line in journal)
    assert_nothing_broken(running_stack)
    assert os.path.exists(next(second.glob("*/result.json")))


def journal_events(out: Path) -> list[dict[str, Any]]:
    journal = next(out.glob("*/journal.jsonl"))
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


def test_a_signal_removes_faults_at_once_applies_nothing_more_and_keeps_what_ran(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    # push-outage: a 503 fault now, a slow fault scheduled 10 s later.
    run = start_run(stack_config, running_stack, tmp_path, "push-outage")
    try:
        wait_for_journal(tmp_path, '"event": "verified"')
        signalled = time.time()
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    faults = [e for e in journal_events(tmp_path) if e["kind"] == "fault"]
    removed = [e["at"] for e in faults if e["event"] == "removed"]
    assert removed and removed[0] - signalled < 2.0, f"first removal {removed[0] - signalled:.2f}s after"
    assert [e["spec"]["mode"] for e in faults if e["event"] == "applying"] == ["503"], (
        "a fault scheduled after the signal was applied"
    )
    assert_nothing_broken(running_stack)
    mode = httpx.get(f"{running_stack.url_of('push-provider')}/control/mode", timeout=5).json()
    assert mode["mode"] == "ok" and mode["layers"] == []

    [result_path] = tmp_path.glob("*/result.json")
    result = json.loads(result_path.read_text())
    assert result["interrupted"] is True
    [scenario] = result["scenarios"]
    assert scenario["status"] == "interrupted"
    [fault] = scenario["faults"]
    assert [event for event, _, _ in fault["events"]][-1] == "removed"
    assert scenario["samples"], "what was measured before the signal is kept"
    assert result["gate"]["passed"] is False
    assert (result_path.parent / "index.html").exists(), "the interrupted run is reported too"
