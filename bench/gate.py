"""The gate proves it can fail: the regression matrix of the shipped CI gate on the local runtime.

    python bench/gate.py [--quick] [--repeat 3] [--out reports/gate-bench]

Runs, each under the CI job's own gate flags (read from examples/ci/github-actions.yml):
  - the hardened profile N times (N >= 3): its run-to-run spread, and no false alarm in any run;
  - the baseline profile and each report profile (chaos.yaml `profiles`);
  - every hardening switch turned off alone (hardened otherwise), on the scenarios that exercise it
    (their `exercises:` list); a switch no scenario exercises is listed as such.
Prints per scenario the readiness spread, the hardened-vs-baseline gap against it, and per switch
which scenarios caught it, the score drop against the hardened spread, and whether the CI gate failed.

Targets (ARCHITECTURE.md, "The gate must prove it can fail"): the CI gate fails the baseline, passes
every hardened repetition, and catches every exercised switch (catch rate 100%).

--quick runs at --time-scale 0.3 (shorter windows and faults; the load stays the same).
The switch-off runs reuse the hardened run's measured capacity (`--capacity`): a switch acts only
under a fault, so without one the stack's capacity is the hardened one, and every variant then
meets the same traffic. Profiles calibrate their own, as `chaosgate run` does.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CI_JOB = ROOT / "examples" / "ci" / "github-actions.yml"
CHAOSGATE = [sys.executable, "-m", "chaosgate"]


@dataclass
class Cell:
    """One run of the matrix: what was run, its gate verdict and readiness per scenario."""

    label: str
    args: list[str]
    passed: bool | None = None
    exit_code: int | None = None
    overall: float | None = None
    readiness: dict[str, float | None] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    capacity: float | None = None
    seconds: float = 0.0
    result: str = ""


def ci_gate_flags() -> list[str]:
    """The gate the shipped CI job applies: the flags of its `chaosgate run` line (--min-score,
    --floor ...), or, where it gives none, chaos.yaml's `gate` (what `chaosgate run` then uses)."""
    job = yaml.safe_load(CI_JOB.read_text(encoding="utf-8"))
    for step in job["jobs"]["chaos"]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            words = shlex.split(line)
            if "run" in words and any(w.endswith("chaosgate") for w in words):
                flags, keep = [], False
                for word in words:
                    if word in ("--min-score", "--floor"):
                        keep = True
                        flags.append(word)
                    elif keep:
                        flags.append(word)
                        keep = False
                return flags or config_gate_flags()
    raise SystemExit(f"{CI_JOB}: no `chaosgate run` line found")


def config_gate_flags() -> list[str]:
    gate = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8")).get("gate") or {}
    flags = ["--min-score", str(gate["min_score"])] if gate.get("min_score") is not None else []
    for floor in gate.get("floors", []):
        flags += ["--floor", floor]
    return flags


def scenarios_by_switch() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for switch in doc.get("exercises", []) or []:
            found.setdefault(switch, []).append(doc["name"])
    return found


def all_switches() -> list[str]:
    # The target's own list: the engine knows no switch names.
    sys.path.insert(0, str(ROOT))
    from chaosgate.target_system.switches import Switch

    return [s.value for s in Switch]


def run(cell: Cell, out: Path, extra: list[str]) -> Cell:
    started = time.monotonic()
    print(f"-- {cell.label}: chaosgate run {' '.join(cell.args)}", flush=True)
    proc = subprocess.run(
        [*CHAOSGATE, "run", *cell.args, "--out", str(out), "--keep-stack", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    cell.seconds = time.monotonic() - started
    cell.exit_code = proc.returncode
    lines = [line for line in proc.stdout.splitlines() if line.startswith("result: ")]
    if not lines:
        print(proc.stdout[-2000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"{cell.label}: chaosgate run exited {proc.returncode} without a result")
    cell.result = lines[-1].removeprefix("result: ").strip()
    data = json.loads(Path(cell.result).read_text(encoding="utf-8"))
    cell.passed = bool(data["gate"]["passed"])
    cell.overall = data["overall"]
    cell.capacity = (data.get("capacity") or {}).get("rps")
    for scenario in data["scenarios"]:
        score = scenario.get("score") or {}
        cell.readiness[scenario["name"]] = score.get("readiness")
        cell.weights[scenario["name"]] = float(scenario["weight"])
    verdict = "PASS" if cell.passed else "FAIL"
    print(f"   {verdict} overall {cell.overall} in {cell.seconds:.0f}s: {cell.readiness}", flush=True)
    return cell


def split_gate(flags: list[str]) -> tuple[float | None, list[str]]:
    """The gate's overall minimum, and its per-scenario floors as flags."""
    min_score, floors = None, []
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag == "--min-score":
            min_score = float(value)
        else:
            floors += [flag, value]
    return min_score, floors


def overall_with(reference: Cell, replaced: Cell) -> float | None:
    """The overall the CI job would see with `replaced`'s scenarios in place of the reference's:
    a switch run covers only the scenarios that exercise it, so the overall minimum is judged on the
    whole suite, the other scenarios at their hardened scores."""
    scores = {**reference.readiness, **replaced.readiness}
    weights = {**reference.weights, **replaced.weights}
    if any(v is None for v in scores.values()):
        return None
    total = sum(weights[n] for n in scores)
    return round(sum((scores[n] or 0.0) * weights[n] for n in scores) / total, 1) if total else None


def fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="--time-scale 0.3")
    parser.add_argument("--repeat", type=int, default=3, help="hardened repetitions (>= 3)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "gate-bench"))
    parser.add_argument("--only", default="", help="comma-separated switches (default: every one)")
    args = parser.parse_args()
    if args.repeat < 3:
        parser.error("--repeat must be at least 3")
    out = Path(args.out)
    gate = ci_gate_flags()
    extra = ["--time-scale", "0.3"] if args.quick else []
    profiles = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8")).get("profiles", [])
    exercised = scenarios_by_switch()
    wanted = [s for s in args.only.split(",") if s] or all_switches()
    began = time.monotonic()
    print(f"CI gate (examples/ci, chaos.yaml `gate`): {' '.join(gate)}", flush=True)

    subprocess.run([*CHAOSGATE, "stack", "down"], cwd=ROOT, capture_output=True, timeout=120)
    try:
        hardened = [
            run(Cell(f"hardened #{i + 1}", ["--all", "--profile", "hardened", *gate]), out, extra)
            for i in range(args.repeat)
        ]
        capacity = next((c.capacity for c in hardened if c.capacity), None)
        others = [
            run(Cell(p, ["--all", "--profile", p, *gate]), out, extra) for p in profiles if p != "hardened"
        ]
        switch_cells: dict[str, Cell] = {}
        min_score, floors = split_gate(gate)
        for switch in wanted:
            names = exercised.get(switch, [])
            if not names:
                continue
            given = ["--capacity", f"{capacity:g}"] if capacity else []
            cell = Cell(
                f"{switch}=off",
                [*names, "--profile", "hardened", "--switch", f"{switch}=off", *floors, *given],
            )
            run(cell, out, extra)
            # The CI job runs every scenario: its overall minimum is judged on the whole suite.
            suite = overall_with(hardened[0], cell)
            if min_score is not None and (suite is None or suite < min_score):
                cell.passed = False
            cell.overall = suite
            switch_cells[switch] = cell
    finally:
        subprocess.run([*CHAOSGATE, "stack", "down"], cwd=ROOT, capture_output=True, timeout=120)

    names = sorted({n for c in hardened for n in c.readiness})
    print()
    print(f"== Readiness per scenario (CI gate: {' '.join(gate)}; hardened capacity {capacity} req/s)")
    header = f"{'scenario':<28}" + "".join(f"{c.label:>12}" for c in [*hardened, *others])
    print(header + f"{'spread':>9}{'gap':>8}{'gap/spread':>12}")
    spreads: dict[str, float] = {}
    for name in names:
        values = [c.readiness.get(name) for c in hardened]
        known = [v for v in values if v is not None]
        spread = (max(known) - min(known)) if known else 0.0
        spreads[name] = spread
        mean = statistics.fmean(known) if known else None
        base = next((c.readiness.get(name) for c in others if c.label == "baseline"), None)
        gap = (mean - base) if mean is not None and base is not None else None
        ratio = (
            "inf" if gap is not None and spread == 0 else (f"{gap / spread:.1f}x" if gap is not None else "—")
        )
        row = f"{name:<28}" + "".join(f"{fmt(c.readiness.get(name)):>12}" for c in [*hardened, *others])
        print(row + f"{spread:9.1f}{(f'{gap:.1f}' if gap is not None else '—'):>8}{ratio:>12}")
    print(f"{'overall':<28}" + "".join(f"{fmt(c.overall):>12}" for c in [*hardened, *others]))
    print(
        f"{'CI gate':<28}" + "".join(f"{('PASS' if c.passed else 'FAIL'):>12}" for c in [*hardened, *others])
    )

    print()
    print("== Each switch off alone (hardened otherwise), on the scenarios that exercise it")
    print("   (floors judged on the scenarios run; the overall minimum on the whole suite, the other")
    print("    scenarios at hardened #1's scores)")
    print(f"{'switch':<20}{'scenarios':<44}{'drop (spread)':<28}{'suite':>7}{'CI gate':>9}")
    caught = 0
    for switch in wanted:
        cell = switch_cells.get(switch)
        if cell is None:
            print(f"{switch:<20}{'(no scenario exercises it alone: README)':<44}{'':<28}{'':>7}{'—':>9}")
            continue
        drops = []
        for name, value in cell.readiness.items():
            known = [v for v in (c.readiness.get(name) for c in hardened) if v is not None]
            if value is None or not known:
                drops.append(f"{name} n/a")
                continue
            drops.append(f"{statistics.fmean(known) - value:+.1f} ({spreads.get(name, 0):.1f})")
        caught += 0 if cell.passed else 1
        verdict = "FAIL" if not cell.passed else "pass"
        names_run = ", ".join(cell.readiness)
        print(f"{switch:<20}{names_run:<44}{'; '.join(drops):<28}{fmt(cell.overall):>7}{verdict:>9}")

    baseline = next((c for c in others if c.label == "baseline"), None)
    false_alarms = sum(1 for c in hardened if not c.passed)
    total = len(switch_cells)
    print()
    print("== Targets")
    print(f"CI gate fails the baseline:            {'yes' if baseline and not baseline.passed else 'NO'}")
    print(f"hardened passes every repetition:      {args.repeat - false_alarms}/{args.repeat}")
    rate = 100 * caught / total if total else 0.0
    print(f"exercised switches caught by the gate: {caught}/{total} ({rate:.0f}%)")
    unexercised = [s for s in wanted if s not in switch_cells]
    print(f"switches no scenario exercises:        {', '.join(unexercised) or 'none'}")
    print(f"wall time:                             {(time.monotonic() - began) / 60:.1f} min")
    ok = bool(baseline and not baseline.passed) and false_alarms == 0 and caught == total
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
