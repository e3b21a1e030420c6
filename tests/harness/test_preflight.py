"""Preflight: `chaosgate run --dry-run` prints the plan and checks the stack without touching it, and
every run names each proxy missing on the Toxiproxy before its first scenario."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from chaosgate.faults import LEDGER_FILE
from chaosgate.stack.launcher import LocalStack


def chaosgate(config: Path, stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosgate",
            "run",
            *args,
            "--config",
            str(config),
            "--run-dir",
            str(stack.run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(stack: LocalStack) -> tuple[object, dict[str, int | None], bool]:
    proxies = httpx.get(f"{stack.proxy_api_url}/proxies", timeout=5).json()
    pids = {name: stack.pid_of(name) for name in stack.services}
    return proxies, pids, (stack.run_dir / LEDGER_FILE).exists()


def test_dry_run_prints_the_plan_checks_the_stack_and_touches_nothing(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    before = snapshot(running_stack)
    ran = chaosgate(
        stack_config, running_stack, "redis-down", "push-outage", "--dry-run", "--out", str(tmp_path)
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "fault   toxiproxy: proxy=redis, down=True at +0s for 15s" in ran.stdout
    assert "fault   provider: mode=slow, delay_ms=3000" in ran.stdout
    assert "expect  chat.send: served" in ran.stdout
    assert "every link has its proxy" in ran.stdout and "nothing was touched" in ran.stdout
    assert snapshot(running_stack) == before
    assert not list(tmp_path.iterdir()), "a dry run writes no report"


def test_a_link_missing_on_the_toxiproxy_is_named_before_anything_runs(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    api = running_stack.proxy_api_url
    removed = {name: httpx.get(f"{api}/proxies/{name}", timeout=5).json() for name in ("objectstore", "push")}
    try:
        for name in removed:  # someone deleted two links from the Toxiproxy
            httpx.delete(f"{api}/proxies/{name}", timeout=5).raise_for_status()
        before = snapshot(running_stack)

        dry = chaosgate(stack_config, running_stack, "objectstore-slow", "--dry-run")
        assert dry.returncode == 3, dry.stdout + dry.stderr
        assert "links.objectstore" in dry.stderr and "links.push" in dry.stderr, "every missing proxy at once"
        assert "scenario objectstore-slow faults[0].proxy" in dry.stderr
        assert "Traceback" not in dry.stderr

        out = tmp_path / "reports"
        run = chaosgate(
            stack_config, running_stack, "objectstore-slow", "--out", str(out), "--load-fraction", "0"
        )
        assert run.returncode == 3, run.stdout + run.stderr
        assert "no proxy named 'objectstore'" in run.stderr and "no proxy named 'push'" in run.stderr
        journal = next(out.glob("*/journal.jsonl")).read_text()
        assert '"scenario_started"' not in journal and '"fault"' not in journal
        assert snapshot(running_stack) == before
    finally:
        for proxy in removed.values():
            body = {k: proxy[k] for k in ("name", "listen", "upstream", "enabled")}
            httpx.post(f"{api}/proxies", json=body, timeout=5)
