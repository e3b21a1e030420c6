"""The compose runtime beside the local one: time to a healthy compose stack from nothing and from built
images, and the same scenarios on both runtimes, per-scenario wall time and readiness side by side.

    .venv/bin/python bench/compose.py [--time-scale 0.3] [--port-offset 900] [--keep-images] [SCENARIO...]

From nothing: the local image set's images are removed from Docker's store and the cached debootstrap
tarball is deleted (so `--keep-images` skips that measure). Both stacks run in temporary project folders
with their ports moved by --port-offset, under no load (--load-fraction 0), so the two columns differ
only by the runtime. Without scenario names: every shipped scenario that runs on both runtimes.
Needs a Docker engine (scripts/docker-engine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaosgate.api import applicable  # noqa: E402
from chaosgate.config import load_topology  # noqa: E402
from chaosgate.scenario.loader import load_scenarios  # noqa: E402
from chaosgate.stack import images  # noqa: E402
from chaosgate.stack.compose_runtime import ComposeStack, ImageSetChoice, project_beside  # noqa: E402


def both_runtimes() -> list[str]:
    paths = sorted((ROOT / "scenarios").glob("*.yaml"))
    scenarios = load_scenarios(paths)
    on = {runtime: set(applicable(scenarios, runtime)) for runtime in ("local", "compose")}
    return [paths[i].stem for i in sorted(on["local"] & on["compose"])]


def forget_images(stack: ComposeStack) -> None:
    """Remove the set's images from Docker's store and the cached rootfs tarball: a first run."""
    client = stack.client
    target = images.target_image(stack.topology)
    for found in client.images.list():
        if any(t.startswith(f"{images.REPOSITORY}/") or t == target for t in found.tags):
            client.images.remove(found.id, force=True)
    client.images.prune(filters={"dangling": True})
    (images.cache_dir() / f"debian-{images.SUITE}-minbase.tar").unlink(missing_ok=True)


def timed_up(stack: ComposeStack) -> float:
    started = time.monotonic()
    stack.up(profile="hardened", switches={}, timeout=300)
    return time.monotonic() - started


def run(config: Path, scenarios: list[str], time_scale: str, out: Path) -> dict[str, Any]:
    """`chaosgate run` of the scenarios; result.json as data."""
    flags = ["--time-scale", time_scale, "--load-fraction", "0", "--min-score", "0", "--out", str(out)]
    argv = [sys.executable, "-m", "chaosgate", "run", *scenarios, "--config", str(config), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=config.parent)
    if done.returncode != 0:
        sys.exit(f"chaosgate run failed on {config}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result_dir = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    data: dict[str, Any] = json.loads((result_dir / "result.json").read_text())
    return data


def main() -> int:
    args = _arguments()
    names = args.scenarios or both_runtimes()
    timings, on_compose, on_local = _measure(
        names, time_scale=args.time_scale, port_offset=args.port_offset, keep_images=args.keep_images
    )
    _report(args.time_scale, timings, on_compose, on_local)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*")
    parser.add_argument("--time-scale", default="0.3")
    parser.add_argument("--port-offset", type=int, default=900)
    parser.add_argument("--keep-images", action="store_true", help="Skip the measure from nothing.")
    return parser.parse_args()


def _measure(
    names: list[str], *, time_scale: str, port_offset: int, keep_images: bool
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """The compose stack's start from nothing and from built images, then the scenarios on it and on the
    local runtime: the timings and both runs' result.json."""
    with tempfile.TemporaryDirectory(prefix="chaosgate-bench-compose-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)  # the local runtime's PostgreSQL runs unprivileged under it
        compose_config = project_beside(
            ROOT / "chaos.yaml", base / "compose", name="chaosgate-bench", port_offset=port_offset
        )
        local_config = project_beside(
            ROOT / "chaos.yaml", base / "local", name="chaosgate-bench", port_offset=port_offset,
            runtime="local",
        )  # fmt: skip
        stack = ComposeStack(load_topology(compose_config), images=ImageSetChoice.LOCAL, say=lambda _: None)
        stack.down()
        timings: dict[str, float] = {}
        try:
            if not keep_images:
                forget_images(stack)
                timings["healthy compose stack from nothing (images built)"] = timed_up(stack)
                print(f"from nothing: {timings}", file=sys.stderr, flush=True)
                stack.down()
            timings["healthy compose stack from built images"] = timed_up(stack)
            print(f"from built images: {timings}", file=sys.stderr, flush=True)
            started = time.monotonic()
            on_compose = run(compose_config, names, time_scale, base / "out-compose")
            timings["compose runtime: scenarios on the running stack"] = time.monotonic() - started
            print("compose run done", file=sys.stderr, flush=True)
        finally:
            stack.down()
        started = time.monotonic()
        on_local = run(local_config, names, time_scale, base / "out-local")  # starts and stops it
        timings["local runtime: up, the same scenarios, down"] = time.monotonic() - started
    return timings, on_compose, on_local


def _report(
    time_scale: str, timings: dict[str, float], on_compose: dict[str, Any], on_local: dict[str, Any]
) -> None:
    """The timings, each scenario's wall time and readiness on both runtimes, compose's backends."""
    print(f"scenarios at --time-scale {time_scale}, no load, profile hardened\n")
    for what, seconds in timings.items():
        print(f"{what:<52} {seconds:6.1f} s")
    print()
    header = (
        f"{'scenario':<28} {'compose wall':>12} {'local wall':>11} {'compose ready':>14} {'local ready':>12}"
    )
    print(header)
    print("-" * len(header))
    local = {s["name"]: s for s in on_local["scenarios"]}
    for scenario in on_compose["scenarios"]:
        other = local[scenario["name"]]

        def ready(s: dict[str, Any]) -> str:
            return f"{s['score']['readiness']:.1f}%" if s.get("score") else s["status"]

        print(f"{scenario['name']:<28} {scenario['duration_s']:>10.1f} s {other['duration_s']:>9.1f} s "
              f"{ready(scenario):>14} {ready(other):>12}")  # fmt: skip
    print(f"{'overall':<28} {'':>12} {'':>11} {on_compose['overall']:>13.1f}% {on_local['overall']:>11.1f}%")
    print("\nbackends on compose:")
    for role, what in on_compose["backends"].items():
        print(f"  {role:<12} {what}")


if __name__ == "__main__":
    sys.exit(main())
