"""Interruptions: how fast a signal turns into rollback, and that nothing is left behind.

    .venv/bin/python bench/interrupts.py [--rounds 12] [--port-offset 500]

Brings a fresh local stack up (hardened) in a temp run dir, then for each round starts
`chaosgate run <scenario>` (time scale 2, a fixed --capacity so no calibration), waits until its
first fault is verified on the wire, sends SIGINT or SIGTERM, and measures:
  - signal -> first fault removed (the journal's `removed` event, written once the removal is done);
  - signal -> the process exited (130 expected);
then checks that nothing stayed broken: every proxy enabled with no toxic, every service alive and
not stopped, the fault ledger empty, no Locust process left, the push provider back to `ok`, the
interrupted scenario in result.json with its faults. Rounds cycle through six fault families.
Prints one line per round and the median / max, and exits 1 if any round left something behind
or took longer than the target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import yaml

from chaosgate.config import load_topology
from chaosgate.faults import FaultLedger
from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = [
    "redis-down",
    "push-outage",
    "service-crash",
    "backend-slow",
    "cockroach-pool-exhaustion",
    "websocket-flood",
]
FIRST_REMOVAL_TARGET_S = 2.0


def leftovers(stack: LocalStack, run_pid: int) -> list[str]:
    found: list[str] = []
    for name, proxy in httpx.get(f"{stack.proxy_api_url}/proxies", timeout=5).json().items():
        if not proxy["enabled"]:
            found.append(f"proxy {name} disabled")
        if proxy["toxics"]:
            found.append(f"toxics on {name}")
    for service in stack.services:
        pid = stack.pid_of(service)
        if pid is None:
            found.append(f"{service} dead")
        elif psutil.Process(pid).status() == psutil.STATUS_STOPPED:
            found.append(f"{service} stopped")
    if FaultLedger(stack.run_dir / "fault-ledger.jsonl").active():
        found.append("ledger not empty")
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "locust" in cmdline and str(stack.run_dir.parent) in cmdline:
            found.append(f"locust {process.pid} alive (its runner was {run_pid})")
    mode = httpx.get(f"{stack.url_of('push-provider')}/control/mode", timeout=5).json()
    if mode["mode"] != "ok":
        found.append(f"push provider {mode['mode']}")
    return found


def wait_verified(out: Path, run: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise RuntimeError(f"the run ended before its fault: {run.communicate()[1][-400:]}")
        for journal in out.glob("*/journal.jsonl"):
            if '"event": "verified"' in journal.read_text():
                return
        time.sleep(0.05)
    raise RuntimeError("no fault verified in time")


def one_round(
    stack: LocalStack, config: Path, out: Path, scenario: str, sig: signal.Signals
) -> dict[str, object]:
    run = subprocess.Popen(
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
            "2",
            "--capacity",
            "200",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_verified(out, run)
        time.sleep(0.5)
        signalled = time.time()
        run.send_signal(sig)
        _, stderr = run.communicate(timeout=90)
        exited = time.time() - signalled
    finally:
        if run.poll() is None:
            run.kill()
    journal = next(out.glob("*/journal.jsonl")).read_text().splitlines()
    events = [json.loads(line) for line in journal if line.strip()]
    removed = [e["at"] for e in events if e.get("kind") == "fault" and e.get("event") == "removed"]
    result = json.loads(next(out.glob("*/result.json")).read_text())
    statuses = [s["status"] for s in result["scenarios"]]
    problems = leftovers(stack, run.pid)
    if run.returncode != 130:
        problems.append(f"exit {run.returncode}: {stderr[-200:]}")
    if "Traceback" in stderr:
        problems.append("traceback")
    if statuses != ["interrupted"]:
        problems.append(f"result.json statuses {statuses}")
    first = min(removed) - signalled if removed else float("nan")
    if not removed:
        problems.append("no removal in the journal")
    return {"first_removal_s": first, "exit_s": exited, "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--port-offset", type=int, default=500)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="chaosgate-interrupt-bench-"))
    base.chmod(0o755)
    topology = load_topology(ROOT / "chaos.yaml").with_port_offset(args.port_offset)
    stack = LocalStack(topology, run_dir=base / "run", profile="hardened")
    config_dir = base / "config"
    config_dir.mkdir()
    data = topology.portable_dump()
    data["run_dir"] = str(stack.run_dir)
    (config_dir / "chaos.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (config_dir / "scenarios").symlink_to(ROOT / "scenarios")
    rows: list[dict[str, object]] = []
    try:
        started = time.monotonic()
        stack.up()
        print(f"stack up in {time.monotonic() - started:.1f}s ({base})", flush=True)
        for i in range(args.rounds):
            scenario = SCENARIOS[i % len(SCENARIOS)]
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            row = one_round(stack, config_dir / "chaos.yaml", base / f"out-{i}", scenario, sig)
            row |= {"scenario": scenario, "signal": sig.name}
            rows.append(row)
            print(
                f"{i + 1:>2} {scenario:<26} {sig.name:<7} first removal {row['first_removal_s']:.2f}s "
                f"exit {row['exit_s']:.2f}s  {'; '.join(row['problems']) or 'nothing left'}",  # type: ignore[arg-type]
                flush=True,
            )
            for service in stack.services:  # a round that failed must not spoil the next
                if stack.pid_of(service) is None:
                    stack.start_service(service)
    finally:
        stack.down()
        shutil.rmtree(base, ignore_errors=True)
    firsts = [float(r["first_removal_s"]) for r in rows]  # type: ignore[arg-type]
    exits = [float(r["exit_s"]) for r in rows]  # type: ignore[arg-type]
    bad = [r for r in rows if r["problems"]]
    print(
        f"\n{len(rows)} interruptions: signal -> first removal median {statistics.median(firsts):.2f}s "
        f"max {max(firsts):.2f}s (target < {FIRST_REMOVAL_TARGET_S}s); signal -> exit median "
        f"{statistics.median(exits):.2f}s max {max(exits):.2f}s; left something behind: {len(bad)}"
    )
    ok = not bad and max(firsts) < FIRST_REMOVAL_TARGET_S
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
