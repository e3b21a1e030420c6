"""Injector plugins (entry point group `chaosgate.injectors`): examples/injector-plugin, registered as an
installed distribution would be, is validated like a built-in injector, runs through the scenario
loader and the fault controller, and is replayed from the fault ledger after a crash."""

from __future__ import annotations

import importlib
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaosgate.cli import cli
from chaosgate.config import load_topology
from chaosgate.errors import FaultError, ValidationError
from chaosgate.faults import LEDGER_FILE, FaultController, FaultLedger, UnavailableFault
from chaosgate.injection import FaultEnvironment
from chaosgate.registry import ENTRY_POINT_GROUP, default_injectors, plugin_injectors
from chaosgate.scenario import load_scenario
from chaosgate.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "injector-plugin"
MODULE = "chaosgate_file_injector"

# A stack chaosgate does not start: no proxy port, no launcher command, no store ports.
TOPOLOGY = """\
remote: {host: 127.0.0.1, proxy_api: "http://127.0.0.1:9"}
run_dir: run
stores:
  db: {kind: redis}
links:
  db: {listen: 26379}
services:
  web: {port: 18080, links: [db]}
gateway: web
features:
  browse: {depends_on: [web], probe: {path: /}}
"""

SCENARIO = """\
name: flag-file
title: A maintenance flag appears
target: web
faults:
  - injector: file
    path: flags/maintenance
    size: 4096
    duration: 20s
"""


def register(site: Path, entry_points: str, *, name: str = "chaosgate-file-injector") -> None:
    """What `pip install` leaves behind: a dist-info with METADATA and entry_points.txt, on sys.path."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def file_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example plugin registered with the entry point its own pyproject.toml declares."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    points = project["entry-points"][ENTRY_POINT_GROUP]
    lines = "".join(f"{name} = {value}\n" for name, value in points.items())
    register(tmp_path / "site", f"[{ENTRY_POINT_GROUP}]\n{lines}")
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    yield
    sys.modules.pop(MODULE, None)


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    (tmp_path / "chaos.yaml").write_text(TOPOLOGY)
    return load_topology(tmp_path / "chaos.yaml")


def scenario_file(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def controller(topology: Topology) -> FaultController:
    """A fault controller as a run builds it, its ledger in the run dir."""
    env = FaultEnvironment(
        topology=topology, proxy_api_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9"
    )
    return FaultController(FaultLedger(topology.default_run_dir() / LEDGER_FILE), default_injectors(), env)


def test_the_plugin_is_an_injector_beside_the_built_in_ones(file_plugin: None) -> None:
    injectors = default_injectors()
    assert {"toxiproxy", "process", "file"} <= set(injectors)
    assert injectors["file"].__module__ == MODULE


def test_a_plugin_fault_runs_through_the_loader_and_the_controller_and_is_replayed_after_a_crash(
    file_plugin: None, topology: Topology, tmp_path: Path
) -> None:
    scenario = load_scenario(scenario_file(tmp_path), topology)
    (fault,) = scenario.faults
    assert type(fault).__name__ == "FileFault" and fault.duration == 20.0
    flag = tmp_path / "flags" / "maintenance"
    flag.parent.mkdir()

    first = controller(topology)
    active = first.inject(fault, fault_id="f1", deadline=0.0)
    assert flag.stat().st_size == len(b"chaosgate-fault f1\n") + 4096
    assert active.history[-1][2].startswith(f"{flag} holds 4115 bytes")  # the verify evidence
    # The runner dies here: a new controller (the watchdog, the next run's sweep) reads the ledger.
    later = controller(topology)
    (left,) = later.ledger.active()
    assert left.spec == fault
    assert later.rollback() == []
    assert not flag.exists() and later.ledger.active() == []
    later.remove(left)  # idempotent: gone already is fine


def test_the_plugin_never_replaces_a_file_it_did_not_write(
    file_plugin: None, topology: Topology, tmp_path: Path
) -> None:
    scenario = load_scenario(scenario_file(tmp_path), topology)
    flag = tmp_path / "flags" / "maintenance"
    flag.parent.mkdir()
    flag.write_text("the operator's own flag")
    with pytest.raises(FaultError, match="exists already"):
        controller(topology).inject(scenario.faults[0], fault_id="f2", deadline=0.0)
    assert flag.read_text() == "the operator's own flag"


def test_plugin_faults_are_validated_like_built_in_ones_with_located_errors(
    file_plugin: None, topology: Topology, tmp_path: Path
) -> None:
    bad = SCENARIO.replace("    path: flags/maintenance\n", "    pth: flags/maintenance\n")
    bad = bad.replace("size: 4096", "size: -1")
    with pytest.raises(ValidationError) as caught:
        load_scenario(scenario_file(tmp_path, bad), topology)
    path = tmp_path / "scenario.yaml"
    assert [str(p) for p in caught.value.problems] == [  # the misspelt key is not also "missing `path`"
        f"{path}:6: faults[0].pth: unknown key 'pth' (did you mean 'path'?); "
        "valid keys here: start, duration, injector, path, size",
        f"{path}:7: faults[0].size: Input should be greater than or equal to 0 (got -1)",
    ]


def test_a_misspelt_injector_lists_the_plugins_too(
    file_plugin: None, topology: Topology, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        load_scenario(scenario_file(tmp_path, SCENARIO.replace("injector: file", "injector: fiel")), topology)
    assert ":5: faults[0].injector: unknown injector 'fiel' (did you mean 'file'?)" in str(caught.value)
    assert "'file'" in str(caught.value) and "'toxiproxy'" in str(caught.value)


def test_without_the_plugin_its_fault_is_unknown_and_its_ledger_entries_stay_listed(
    file_plugin: None, topology: Topology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(scenario_file(tmp_path), topology)
    (tmp_path / "flags").mkdir()
    controller(topology).inject(scenario.faults[0], fault_id="f3", deadline=0.0)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "site" not in Path(p).parts[-1:]])
    importlib.invalidate_caches()  # the plugin is uninstalled while its fault is in force

    with pytest.raises(ValidationError, match="unknown injector 'file'"):
        load_scenario(scenario_file(tmp_path), topology)
    orphan = controller(topology)
    (left,) = orphan.ledger.active()
    assert isinstance(left.spec, UnavailableFault) and left.spec.model_dump()["path"] == "flags/maintenance"
    assert orphan.rollback() == ["no injector 'file' is available here"]
    listed = CliRunner().invoke(cli, ["faults", "--json", "--config", str(topology.source)])
    assert listed.exit_code == 0 and '"injector": "file"' in listed.output


def test_a_plugin_that_does_not_fit_the_interface_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(
        tmp_path / "site",
        f"[{ENTRY_POINT_GROUP}]\ntoxiproxy = json:JSONDecoder\nbroken = no_such_module:Injector\n"
        "decoder = json:JSONDecoder\n",
        name="bad-plugins",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    with pytest.raises(ValidationError) as caught:
        plugin_injectors()
    problems = [str(p) for p in caught.value.problems]
    assert any(
        "injector plugin 'toxiproxy'" in p and "is a built-in injector; a plugin needs a name of its own" in p
        for p in problems
    )
    assert any(
        "injector plugin 'decoder'" in p and "subclass of chaosgate.injection.Injector" in p for p in problems
    )
    assert any(
        "injector plugin 'broken'" in p and "does not load (ModuleNotFoundError" in p for p in problems
    )
