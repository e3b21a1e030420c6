"""The pytest plugin: YAML scenarios collected as tests, run on the stack, a failing gate a failed test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: redis-slow
title: Redis answers slowly
target: redis
faults:
  - injector: toxiproxy
    proxy: redis
    toxic: {type: latency, attributes: {latency: 200}}
    duration: 6s
recovery: {target: 5s, timeout: 20s}
"""


def test_repository_scenarios_are_collected_one_item_each() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "scenarios/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    items = [line for line in listed.stdout.splitlines() if "::" in line]
    names = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert sorted(i.split("::")[1] for i in items) == names


def test_in_a_project_without_chaos_yaml_the_plugin_collects_nothing_and_imports_nothing(
    tmp_path: Path,
) -> None:
    # An unrelated project that happens to have a scenarios/ folder of its own YAML.
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "login.yaml").write_text("steps: [open, type, submit]\n")
    (tmp_path / "test_own.py").write_text(
        "import sys\n"
        "def test_chaosgate_stays_out():\n"
        "    loaded = [m for m in sys.modules if m.startswith('chaosgate.')]\n"
        "    assert sorted(loaded) == ['chaosgate.errors', 'chaosgate.pytest_plugin'], loaded\n"
    )
    plain = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    ran = subprocess.run([*plain, "."], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout and "login" not in ran.stdout
    # Asked for explicitly, the same folder is collected as scenarios.
    asked = subprocess.run(
        [*plain, "--collect-only", "--chaos", "scenarios/"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "login" in asked.stdout, asked.stdout + asked.stderr


@pytest.mark.timeout(150)
def test_a_scenario_below_the_floor_fails_with_its_breakdown(local_stack: LocalStack, tmp_path: Path) -> None:
    data = local_stack.topology.portable_dump()
    data["run_dir"] = str(local_stack.run_dir)
    (tmp_path / "chaos.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "redis-slow.yaml").write_text(SCENARIO)

    options = {
        "--chaos-config": "chaos.yaml",
        "--chaos-min-score": "101",
        "--chaos-time-scale": "0.5",
        "--chaos-profile": local_stack.profile,
        "--chaos-out": "reports",
        "--junitxml": "junit.xml",
    }
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios/", "-p", "no:cacheprovider", *sum(options.items(), ())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=140,
    )

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "1 failed" in ran.stdout
    assert "scenario redis-slow: gate failed" in ran.stdout and "floor 101" in ran.stdout
    assert "isolation:" in ran.stdout and "recovery:" in ran.stdout
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    case = suite.find(".//testcase")
    assert case is not None and case.get("name") == "redis-slow"
    assert case.find("failure") is not None
    assert list((tmp_path / "reports").glob("*/result.json"))
