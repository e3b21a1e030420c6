"""The example of README's "Pointing chaosgate at your own system", end to end: a system that is not
SecureConnect (examples/own-system: orders + catalog + Redis behind a shared fault proxy), described
in YAML only, run with `chaosgate run --all`. Data loss is measured for its declared writer, the
catalog's faults show up as degraded orders, and someone else's proxy on the shared Toxiproxy is left
exactly as it was."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chaosgate.config import load_topology
from chaosgate.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "own-system"
# Clear of the session stack's ports (moved by CHAOSGATE_TEST_PORT_OFFSET) and of a dev stack's.
BASE_OFFSET = 2000 + int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0"))


def _all_free(topology: Topology) -> bool:
    for port, _ in topology.ports():
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _config(folder: Path) -> Path:
    """The example's chaos.yaml on ports nobody uses, with its run dir in `folder`."""
    example = load_topology(EXAMPLE / "chaos.yaml")
    moved = next(
        t for t in (example.with_port_offset(BASE_OFFSET + 37 * i) for i in range(50)) if _all_free(t)
    )
    data = moved.portable_dump()
    data["run_dir"] = str(folder / "chaosgate-state")
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "scenarios").symlink_to(EXAMPLE / "scenarios")
    return path


def _launcher(action: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), action, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
    )


def _proxies(api: str) -> dict[str, Any]:
    answer = httpx.get(f"{api}/proxies", timeout=5)
    answer.raise_for_status()
    return dict(answer.json())


@pytest.fixture
def example_system(tmp_path: Path) -> Iterator[Path]:
    config = _config(tmp_path)
    try:
        started = _launcher("up", config)
        assert started.returncode == 0, started.stdout + started.stderr
        yield config
    finally:
        stopped = _launcher("down", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.mark.timeout(240)
def test_a_system_described_in_yaml_only_is_broken_measured_and_left_as_found(
    example_system: Path, tmp_path: Path
) -> None:
    topology = load_topology(example_system)
    api = topology.proxy_api_url()
    before = _proxies(api)
    assert before["bystander"]["toxics"], "the launcher gave the bystander proxy a toxic of its own"
    out = tmp_path / "reports"

    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "run", "--all", "--config", str(example_system),
         "--time-scale", "0.3", "--out", str(out)],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip

    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-4000:]
    # 1: the gate (chaos.yaml: data_loss=none) fails, as it must for a system that loses orders.
    assert done.returncode == 1, output[-4000:]
    result = json.loads(next(out.glob("*/result.json")).read_text())
    scenarios = {s["name"]: s for s in result["scenarios"]}
    assert set(scenarios) == {"redis-down", "catalog-slow", "catalog-down"}
    for scenario in scenarios.values():
        assert scenario["status"] == "completed", (scenario["name"], scenario["message"])
        assert scenario["load"]["phases"], "declared load ran in every window"

    redis_down = scenarios["redis-down"]
    orders = redis_down["writers"]["orders"]
    print("redis-down orders writer:", orders, "score:", redis_down["score"])
    assert orders["lost"] > 0, "acknowledged orders dropped with the write-behind buffer are counted lost"
    assert redis_down["score"]["data_label"] != "n/a" and redis_down["score"]["data"] == 0.0

    for name in ("catalog-slow", "catalog-down"):
        shares = scenarios[name]["score"]["behaviour_shares"]
        print(name, "behaviour:", shares, "writers:", scenarios[name]["writers"])
        for feature in ("orders.create", "orders.quote"):
            assert max(shares[feature], key=shares[feature].get) == "degraded", (name, feature, shares)
        assert scenarios[name]["writers"]["orders"]["lost"] == 0

    assert result["capacity"]["rps"] > 0 and not result["capacity"]["reused"]
    after = _proxies(api)
    assert after["bystander"] == before["bystander"], "someone else's proxy and its toxic are untouched"
    assert {name: p["toxics"] for name, p in after.items()} == {
        name: p["toxics"] for name, p in before.items()
    }
    assert {name: p["enabled"] for name, p in after.items()} == {name: True for name in before}
