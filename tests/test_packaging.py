"""Two distributions, one direction: `chaosgate` (the engine, with chaosgate.injectors mapped from the
repository's injectors/ folder) and `secureconnect` (the reference target, target_system/, plugging into
chaosgate by entry points). `pip install chaosgate` brings none of the target's dependencies, and works
on a system of a user's own without it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

# One worker builds the two wheels once and runs every test that reads them.
pytestmark = pytest.mark.xdist_group("packaging")

ROOT = Path(__file__).resolve().parents[1]


def _names(wheel: Path) -> list[str]:
    return zipfile.ZipFile(wheel).namelist()


def _metadata(wheel: Path, name: str) -> str:
    member = next(n for n in _names(wheel) if n.endswith(f".dist-info/{name}"))
    return zipfile.ZipFile(wheel).read(member).decode()


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _target_only_dependencies() -> set[str]:
    """What the target requires that the engine does not: none of it may come with chaosgate."""
    engine = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    target = tomllib.loads((ROOT / "target_system" / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_requirement_name(r) for r in target} - {_requirement_name(r) for r in engine} - {"chaosgate"}


def test_the_engine_wheel_is_chaosgate_and_its_injectors_only(wheels: dict[str, Path]) -> None:
    names = _names(wheels["chaosgate"])
    assert {n.split("/", 1)[0] for n in names if ".dist-info" not in n} == {"chaosgate"}
    assert "chaosgate/injectors/toxiproxy.py" in names and "chaosgate/registry.py" in names
    assert not [n for n in names if "target_system" in n or n.endswith("provider.py")]
    schemas = {f"chaosgate/scenario/{n}.schema.json" for n in ("scenario", "chaos", "result")}
    assert schemas <= set(names)
    assert "chaosgate/report/templates/report.html.j2" in names
    entry_points = _metadata(wheels["chaosgate"], "entry_points.txt")
    assert "secureconnect" not in entry_points and "provider" not in entry_points
    required = {
        _requirement_name(line.removeprefix("Requires-Dist:").strip())
        for line in _metadata(wheels["chaosgate"], "METADATA").splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert required & _target_only_dependencies() == set()


def test_the_target_wheel_plugs_into_chaosgate(wheels: dict[str, Path]) -> None:
    names = _names(wheels["secureconnect"])
    assert {n.split("/", 1)[0] for n in names if ".dist-info" not in n} == {"target_system"}
    assert "target_system/chaos/probes.py" in names and "target_system/__main__.py" in names
    entry_points = _metadata(wheels["secureconnect"], "entry_points.txt")
    assert "secureconnect = target_system.chaos.plugin:plugin" in entry_points
    assert "provider = target_system.chaos.provider:ProviderInjector" in entry_points
    assert "Requires-Dist: chaosgate[local-stores]" in _metadata(wheels["secureconnect"], "METADATA")


def test_every_package_folder_is_in_a_distribution() -> None:
    """The package lists are explicit (package-dir maps injectors/ and target_system/): a new folder
    left out of them would be missing from the installed package."""
    engine = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    target = tomllib.loads((ROOT / "target_system" / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for base in ("chaosgate", "target_system")
        for init in (ROOT / base).rglob("__init__.py")
    }
    expected = {f for f in folders if f.startswith("chaosgate")} | {"chaosgate.injectors"}
    assert set(engine) == expected
    assert set(target["packages"]) == {f for f in folders if f.startswith("target_system")}


def test_a_clean_install_of_chaosgate_brings_no_target_and_validates_a_users_own_system(
    engine_only_python: Path, tmp_path: Path
) -> None:
    frozen = subprocess.run(
        [str(engine_only_python), "-m", "pip", "freeze"], capture_output=True, text=True, timeout=60
    ).stdout
    installed = {_requirement_name(line) for line in frozen.splitlines() if line.strip()}
    assert installed & _target_only_dependencies() == set(), "pip install chaosgate pulled the target's"
    assert "secureconnect" not in installed
    chaosgate = [str(engine_only_python), "-m", "chaosgate"]
    # Outside the repository (its chaosgate/ folder would shadow the installed package).
    assert (
        subprocess.run([*chaosgate, "--help"], cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    )
    example = ROOT / "examples" / "own-system"
    own = subprocess.run(
        [
            *chaosgate,
            "validate",
            "--config",
            str(example / "chaos.yaml"),
            *map(str, example.glob("scenarios/*")),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert own.returncode == 0, own.stdout + own.stderr
    # SecureConnect's chaos.yaml names its own plugin's injector: without the target it does not load.
    config = str(ROOT / "chaos.yaml")
    target = subprocess.run(
        [*chaosgate, "validate", "--config", config], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert target.returncode != 0 and "'provider' is no injector" in target.stdout + target.stderr
    assert "Traceback" not in target.stdout + target.stderr
    assert sys.executable != str(engine_only_python)
