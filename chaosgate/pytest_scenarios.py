"""The active half of the pytest plugin: YAML scenarios as test items, failed on their gate.

Registered by `chaosgate.pytest_plugin` only in a project that has a chaos.yaml at its rootdir (or
with `--chaos`). Only YAML files in a folder named `scenarios` are collected; nothing starts before a
scenario item runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chaosgate.api import applicable, check_injectors, run_on_stack, running_stack
from chaosgate.config import load_topology
from chaosgate.errors import ChaosgateError
from chaosgate.gate import GatePolicy, parse_floors
from chaosgate.injection import runtime_of
from chaosgate.report.details import cascade_cell, data_line
from chaosgate.report.view import fmt_isolation, fmt_recovery, fmt_share, fmt_unit
from chaosgate.result import ScenarioResult
from chaosgate.scenario.loader import load_scenarios
from chaosgate.stack.running import RunningStack
from chaosgate.topology import Topology

MARKER = "chaosgate"


class ScenarioSession:
    """Per pytest session: the topology and the stack, brought up at the first scenario item."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._exit = contextlib.ExitStack()
        self._stack: RunningStack | None = None
        self._topology: Topology | None = None

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            chosen = self.config.getoption("chaos_config")
            self._topology = load_topology(Path(chosen) if chosen else self.config.rootpath / "chaos.yaml")
        return self._topology

    def stack(self) -> RunningStack:
        if self._stack is None:
            self._stack = self._exit.enter_context(
                running_stack(
                    self.topology,
                    run_dir=None,
                    profile=self.config.getoption("chaos_profile") or self.topology.profile,
                    switches={},
                    keep_stack=False,
                    err=Console(stderr=True),
                    profile_given=self.config.getoption("chaos_profile") is not None,
                )
            )
        return self._stack

    def close(self) -> None:
        self._exit.close()


SESSION = pytest.StashKey[ScenarioSession]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SESSION] = ScenarioSession(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SESSION in config.stash:
        config.stash[SESSION].close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "scenarios":
        collected: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
        return collected
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        item.add_marker(MARKER)  # `-m chaosgate` selects (or `-m "not chaosgate"` skips) scenarios
        yield item


class ScenarioFailed(Exception):
    """The scenario ran and its gate did not hold (or it did not complete)."""


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        session = self.config.stash[SESSION]
        topology = session.topology
        scenarios = load_scenarios([self.path], topology)
        runtime = runtime_of(topology)
        if not applicable(scenarios, runtime):
            pytest.skip(f"its faults act on containers: not on the {runtime} runtime")
        check_injectors(scenarios, [self.path], runtime=runtime)
        min_score = self.config.getoption("chaos_min_score")
        floors = parse_floors([f"readiness={min_score}"] if min_score is not None else [])
        out = Path(self.config.getoption("chaos_out"))
        result = run_on_stack(
            session.stack(),
            topology,
            scenarios,
            out=out,
            time_scale=self.config.getoption("chaos_time_scale"),
            err=Console(stderr=True),
            gate=GatePolicy(floors=floors),
        )
        assert result.gate is not None
        scenario = result.scenarios[0]
        self.user_properties.append(("readiness", scenario.score.readiness if scenario.score else None))
        self.user_properties.append(("result", str(out / result.run_id / "result.json")))
        if not result.gate.passed:
            raise ScenarioFailed(breakdown(scenario, result.gate.reasons, out / result.run_id))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed | ChaosgateError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"


def breakdown(s: ScenarioResult, reasons: list[str], run_dir: Path) -> str:
    """The score breakdown a failed scenario test prints."""
    lines = [f"scenario {s.name}: gate failed: " + "; ".join(reasons), f"  status: {s.status} {s.message}"]
    if s.score is not None:
        sc = s.score
        lines += [
            f"  readiness: {sc.readiness:.1f}",
            f"  isolation: {fmt_isolation(sc)}"
            + (f" (unhealthy: {', '.join(sc.unhealthy_unaffected)})" if sc.unhealthy_unaffected else ""),
            f"  cascade: {cascade_cell(sc)}",
            f"  data loss: {data_line(s)}",
            f"  fail behaviour: {fmt_share(sc.behaviour_match)} match",
        ]
        for feature, observed in sc.behaviour.items():
            expected = sc.expected.get(feature)
            wanted = f" (expected {expected.value})" if expected else ""
            lines.append(f"    {feature}: {observed.value}{wanted}")
        lines.append(f"  recovery: {fmt_recovery(s)} (score {fmt_unit(sc.recovery)})")
        lines.append("  components: " + ", ".join(f"{k} {fmt_unit(v)}" for k, v in sc.components.items()))
    lines.append(f"  report: {run_dir / 'index.html'}")
    return "\n".join(lines)
