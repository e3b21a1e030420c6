"""Scenario files: the shipped ones are valid; each malformed one gets exactly one clear, located error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.scenario import Outcome, load_scenario
from chaosgate.scenario.models import ToxiproxyFault
from chaosgate.scenario.schema import render_schema, shipped_schema
from chaosgate.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

VALID = """\
name: demo
title: A demo
target: redis
faults:
  - injector: toxiproxy
    proxy: redis
    down: true
    duration: 20s
expect:
  auth.login: degraded
"""


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "chaos.yaml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_is_valid(path: Path, topology: Topology) -> None:
    scenario = load_scenario(path, topology)
    assert scenario.name == path.stem
    assert scenario.expect, "each shipped scenario states what the hardened stack should do"


def test_durations_are_parsed_once_into_seconds(tmp_path: Path, topology: Topology) -> None:
    scenario = load_scenario(
        write(tmp_path, VALID.replace("20s", "1m") + "recovery: {target: 500ms}\n"), topology
    )
    fault = scenario.faults[0]
    assert isinstance(fault, ToxiproxyFault)
    assert fault.duration == 60.0
    assert scenario.recovery.target == 0.5
    assert scenario.expect == {"auth.login": Outcome.DEGRADED}


# (description, YAML text, expected line, expected key, a fragment of the message)
MALFORMED = [
    ("not yaml", "name: [unclosed\n", 2, "name", "not valid YAML"),
    ("not a mapping", "- just\n- a list\n", 1, "", "a scenario is a mapping"),
    ("empty file", "", 1, "", "a scenario is a mapping"),
    ("missing name", VALID.replace("name: demo\n", ""), 1, "name", "missing required key 'name'"),
    ("bad name", VALID.replace("name: demo", "name: Demo Scenario"), 1, "name", "should match pattern"),
    ("unknown top key", VALID + "colour: red\n", 11, "colour", "unknown key 'colour'; valid keys here"),
    ("duplicate key", VALID + "title: again\n", 11, "title", "duplicate key 'title'"),
    ("no faults", VALID.split("faults:")[0] + "faults: []\n", 4, "faults", "at least 1 item"),
    (
        "unknown injector",
        VALID.replace("injector: toxiproxy", "injector: toxiproxi"),
        5,
        "faults[0].injector",
        "unknown injector 'toxiproxi'",
    ),
    (
        "missing injector",
        VALID.replace("  - injector: toxiproxy\n    proxy", "  - proxy"),
        5,
        "faults[0]",
        "injector",
    ),
    (
        "bad duration",
        VALID.replace("duration: 20s", "duration: soon"),
        8,
        "faults[0].duration",
        "a duration is a number of seconds",
    ),
    (
        "zero duration",
        VALID.replace("duration: 20s", "duration: 0s"),
        8,
        "faults[0].duration",
        "greater than 0",
    ),
    (
        "negative start",
        VALID.replace("duration: 20s", "duration: 20s\n    start: -5"),
        9,
        "faults[0].start",
        "cannot be negative",
    ),
    (
        "both down and toxic",
        VALID.replace("down: true", "down: true\n    toxic: {type: latency, attributes: {latency: 100}}"),
        5,
        "faults[0]",
        "exactly one of",
    ),
    (
        "unknown toxic",
        VALID.replace("down: true", "toxic: {type: lag}"),
        7,
        "faults[0].toxic.type",
        "latency",
    ),
    (
        "toxic attribute type",
        VALID.replace("down: true", "toxic: {type: latency, attributes: {latency: fast}}"),
        7,
        "faults[0].toxic.attributes.latency",
        "valid integer",
    ),
    (
        "toxic attribute unknown",
        VALID.replace("down: true", "toxic: {type: latency, attributes: {rate: 1}}"),
        7,
        "faults[0].toxic.attributes.rate",
        "no attribute 'rate'",
    ),
    (
        "toxicity out of range",
        VALID.replace("down: true", "toxic: {type: latency, toxicity: 2}"),
        7,
        "faults[0].toxic.toxicity",
        "less than or equal to 1",
    ),
    (
        "unknown fault key",
        VALID.replace("down: true", "down: true\n    signal: SIGKILL"),
        8,
        "faults[0].signal",
        "valid keys here: start, duration, injector, proxy, down, toxic",
    ),
    (
        "bad signal",
        VALID.replace(
            "injector: toxiproxy\n    proxy: redis\n    down: true",
            "injector: process\n    service: chat\n    signal: SIGHUP",
        ),
        7,
        "faults[0].signal",
        "SIGKILL",
    ),
    (
        "bad expectation",
        VALID.replace("auth.login: degraded", "auth.login: fine"),
        10,
        "expect.auth.login",
        "'served', 'degraded' or 'rejected'",
    ),
    ("weight out of range", VALID + "weight: 11\n", 11, "weight", "less than or equal to 10"),
    (
        "recovery target past timeout",
        VALID + "recovery: {target: 90s, timeout: 60s}\n",
        11,
        "recovery",
        "must not exceed",
    ),
    (
        "pool connections not a number",
        VALID.replace(
            "injector: toxiproxy\n    proxy: redis\n    down: true",
            "injector: pool\n    store: cockroach\n    connections: many",
        ),
        7,
        "faults[0].connections",
        "integer",
    ),
]

# Names that only the topology can refute.
UNKNOWN_NAMES = [
    (
        "unknown target",
        VALID.replace("target: redis", "target: mysql"),
        3,
        "target",
        "unknown component 'mysql'",
    ),
    (
        "unknown proxy",
        VALID.replace("proxy: redis", "proxy: memcached"),
        6,
        "faults[0].proxy",
        "unknown link (proxy) 'memcached'",
    ),
    (
        "unknown feature",
        VALID.replace("auth.login", "auth.teleport"),
        10,
        "expect.auth.teleport",
        "unknown feature 'auth.teleport'",
    ),
    (
        "pool on redis",
        VALID.replace(
            "injector: toxiproxy\n    proxy: redis\n    down: true",
            "injector: pool\n    store: redis\n    connections: 5",
        ),
        6,
        "faults[0].store",
        "unknown SQL store 'redis'",
    ),
    (
        "unknown service",
        VALID.replace(
            "injector: toxiproxy\n    proxy: redis\n    down: true", "injector: process\n    service: billing"
        ),
        6,
        "faults[0].service",
        "unknown service 'billing'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [c[1:] for c in MALFORMED + UNKNOWN_NAMES],
    ids=[c[0] for c in MALFORMED + UNKNOWN_NAMES],
)
def test_malformed_scenario_gets_one_located_error(
    tmp_path: Path, topology: Topology, text: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as caught:
        load_scenario(path, topology)
    error = caught.value
    assert error.location is not None
    assert Path(error.location.file) == path
    assert error.location.line == line, str(error)
    assert error.location.key == key, str(error)
    assert fragment in str(error)


def test_validate_command_reports_each_file_and_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, VALID.replace("duration: 20s", "duration: soon"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosgate",
            "validate",
            "--config",
            str(ROOT / "chaos.yaml"),
            str(ROOT / "scenarios" / "redis-down.yaml"),
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ok       " in result.stdout and "redis-down" in result.stdout
    assert f"{bad}:8: faults[0].duration" in result.stderr
    assert "Traceback" not in result.stderr


def test_shipped_json_schema_matches_the_models() -> None:
    assert shipped_schema() == render_schema()
    schema = json.loads(shipped_schema())
    assert {"name", "title", "target", "faults"} <= set(schema["required"])
