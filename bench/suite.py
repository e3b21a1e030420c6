"""Wall time of `chaosgate run --all` from a cold start (stack down first), per scenario and in total.

    python bench/suite.py [--profile hardened] [--time-scale 1.0]

Target (issue "The harness"): all scenarios on the local runtime in <= 5 minutes wall, stack start
included; a fault applied and verified in <= 1 s; recovery reported to 100 ms resolution.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_WALL_S = 300.0
TARGET_VERIFY_S = 1.0


def main() -> int:
    args = _arguments()
    run, wall = _run_all(args)
    results = sorted(Path(args.out).glob("*/result.json"), key=lambda p: p.stat().st_mtime)
    if not results:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
        print("no result.json was written")
        return 1
    result = json.loads(results[-1].read_text())
    verify_times = _print_scenarios(result)
    print(f"\noverall readiness {result.get('overall')}  (exit code {run.returncode})")
    worst_verify = max(verify_times, default=float("nan"))
    print(
        f"wall time, cold start included: {wall:.1f} s   target <= {TARGET_WALL_S:.0f} s   "
        f"{'PASS' if wall <= TARGET_WALL_S else 'FAIL'}"
    )
    print(
        f"slowest apply+verify: {worst_verify:.3f} s   target <= {TARGET_VERIFY_S:.1f} s   "
        f"{'PASS' if worst_verify <= TARGET_VERIFY_S else 'FAIL'}"
    )
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="hardened", choices=["baseline", "hardened"])
    parser.add_argument("--time-scale", default="1.0")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    return parser.parse_args()


def _run_all(args: argparse.Namespace) -> tuple[subprocess.CompletedProcess[str], float]:
    """`chaosgate run --all` from a stopped stack (cold start included); the run and its wall time."""
    chaosgate = [sys.executable, "-m", "chaosgate"]
    subprocess.run([*chaosgate, "stack", "down"], cwd=ROOT, capture_output=True, timeout=120)
    started = time.monotonic()
    run = subprocess.run(
        [
            *chaosgate,
            "run",
            "--all",
            "--profile",
            args.profile,
            "--time-scale",
            args.time_scale,
            "--out",
            args.out,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.monotonic() - started
    return run, wall


def _print_scenarios(result: dict[str, Any]) -> list[float]:
    """One row per scenario; returns every fault's apply-to-verified time, in order."""
    print(
        f"{'scenario':<28} {'status':<10} {'wall s':>8} {'verify s':>9} {'recovery s':>11} {'readiness':>10}"
    )
    verify_times: list[float] = []
    for s in result["scenarios"]:
        for fault in s["faults"]:
            stamps = {event: t for event, t, _ in fault["events"]}
            if "applying" in stamps and "verified" in stamps:
                verify_times.append(stamps["verified"] - stamps["applying"])
        fault_verify = max((v for v in verify_times[-len(s["faults"]) :]), default=float("nan"))
        recovery = s["recovery_s"]
        readiness = s["score"]["readiness"] if s.get("score") else None
        shown_recovery = "never" if recovery is None else f"{recovery:.1f}"
        shown_readiness = "-" if readiness is None else f"{readiness:.1f}"
        print(
            f"{s['name']:<28} {s['status']:<10} {s['duration_s']:>8.1f} {fault_verify:>9.3f} "
            f"{shown_recovery:>11} {shown_readiness:>10}"
        )
    return verify_times


if __name__ == "__main__":
    sys.exit(main())
