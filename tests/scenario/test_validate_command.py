"""`chaosgate validate`: a chaos.yaml is checked as a topology (known by its name or its content), every
problem at once; a scenario is checked against it, including that each feature it expects is probed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaosgate.cli import main

ROOT = Path(__file__).resolve().parents[2]

# A stack started elsewhere, with one feature a probe covers and one that nothing probes.
TOPOLOGY = """\
remote: {host: 127.0.0.1, proxy_api: "http://127.0.0.1:9"}
services:
  api: {port: 18081}
gateway: api
features:
  read: {depends_on: [api], probe: {path: /v1/read}}
  write: {depends_on: [api]}
links:
  api: {listen: 28081}
"""

SCENARIO = """\
name: api-slow
title: The API turns slow
target: api
faults:
  - injector: toxiproxy
    proxy: api
    down: true
    duration: 10s
expect:
  read: rejected
  write: rejected
"""


@dataclass
class Done:
    code: int
    out: str
    err: str


Validate = Callable[..., Done]


@pytest.fixture
def validate(capsys: pytest.CaptureFixture[str]) -> Validate:
    def run(*args: str | Path) -> Done:
        with pytest.raises(SystemExit) as exited:
            main(["validate", *(str(a) for a in args)])
        captured = capsys.readouterr()
        return Done(int(exited.value.code or 0), captured.out, captured.err)

    return run


def test_the_repository_chaos_yaml_is_checked_as_a_topology(validate: Validate) -> None:
    for args in ((ROOT / "chaos.yaml",), ("--config", ROOT / "chaos.yaml")):
        done = validate(*args)
        assert done.code == 0, done.err
        assert done.out == f"ok       {ROOT / 'chaos.yaml'} (topology: 7 service(s), 15 feature(s))\n"


def test_a_chaos_yaml_under_another_name_is_known_by_its_content(validate: Validate, tmp_path: Path) -> None:
    staging = tmp_path / "staging.yaml"
    staging.write_text(TOPOLOGY.replace("  write: {depends_on: [api]}\n", ""))
    done = validate(staging)
    assert done.code == 0 and "(topology: 1 service(s), 1 feature(s))" in done.out, done.err


def test_every_problem_of_a_broken_chaos_yaml_at_once_with_did_you_mean(
    validate: Validate, tmp_path: Path
) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(
        TOPOLOGY.replace("gateway: api", "gateway: apu").replace(
            "depends_on: [api]}\n", "depends_on: [ap]}\n"
        )
    )
    done = validate(config)
    assert done.code == 2 and done.out == ""
    lines = done.err.splitlines()
    assert lines == [
        f"invalid  {config}:4: gateway: 'apu' is no service (did you mean 'api'?); valid: api",
        f"         {config}:7: features.write.depends_on[0]: 'ap' is no store or service (did you mean "
        "'api'?); valid: api",
    ]


def test_a_feature_nothing_probes_is_named_in_the_topology(validate: Validate, tmp_path: Path) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(TOPOLOGY)
    done = validate("--config", config)
    assert done.code == 2
    assert f"{config}:7: features.write" in done.err and "feature 'write' has no probe" in done.err


def test_a_scenario_expecting_an_unprobed_feature_is_refused_at_its_expect(
    validate: Validate, tmp_path: Path
) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(TOPOLOGY)
    scenario = tmp_path / "api-slow.yaml"
    scenario.write_text(SCENARIO)
    done = validate("--config", config, scenario)
    assert done.code == 2
    assert done.err.splitlines() == [
        f"invalid  {scenario}:11: expect.write: feature 'write' has no probe, so this expectation could "
        "never be met: declare features.write.probe in chaos.yaml, or use a probe plugin that has one"
    ]
    scenario.write_text(SCENARIO.replace("  write: rejected\n", ""))
    assert validate("--config", config, scenario).code == 0


def test_a_chaos_yaml_among_the_files_is_the_topology_the_scenarios_must_fit(
    validate: Validate, tmp_path: Path
) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(TOPOLOGY.replace("  write: {depends_on: [api]}\n", ""))
    scenario = tmp_path / "api-slow.yaml"
    scenario.write_text(SCENARIO.replace("  write: rejected\n", "").replace("proxy: api", "proxy: apii"))
    done = validate(scenario, config)
    assert done.code == 2
    assert f"ok       {config} (topology" in done.out
    assert f"{scenario}:6: faults[0].proxy: unknown link (proxy) 'apii'" in done.err


def test_nothing_to_validate_is_a_usage_error(validate: Validate) -> None:
    done = validate()
    assert done.code == 2 and "give scenario FILES, a chaos.yaml, or --config" in done.err
