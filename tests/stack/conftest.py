"""Fixtures for launcher tests: scratch run dirs, chaos.yaml copies on other ports, the CLI as a process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STUB = Path(__file__).resolve().parent / "stub_service.py"


def real_services() -> bool:
    """Use target_system's services once they exist (and CHAOSGATE_TEST_SERVICES is not `none`)."""
    if os.environ.get("CHAOSGATE_TEST_SERVICES", "").strip() == "none":
        return False
    return importlib.util.find_spec("target_system.__main__") is not None


def make_scratch_dir() -> Path:
    """A temp dir under /tmp that an unprivileged PostgreSQL can traverse (pytest's is private)."""
    path = Path(tempfile.mkdtemp(prefix="chaosgate-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    path = make_scratch_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shifted_config(offset: int, *, stub_services: bool) -> dict[str, Any]:
    """chaos.yaml as data with every port moved by `offset` (so it can run beside the session stack)."""
    data = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8"))
    data["proxy"]["api_port"] += offset
    for section, key in (("stores", "port"), ("links", "listen"), ("services", "port")):
        for item in data[section].values():
            item[key] += offset
    if stub_services:
        data["service_defaults"]["command"] = ["{python}", str(STUB), "{service}"]
    return data


def write_config(
    directory: Path, offset: int, *, stub_services: bool | None = None, command: list[str] | None = None
) -> Path:
    """Writes a chaos.yaml with moved ports (run dir `run` beside it); real services once they exist."""
    stub = not real_services() if stub_services is None else stub_services
    path = directory / "chaos.yaml"
    data = shifted_config(offset, stub_services=stub)
    data["run_dir"] = "run"
    if command is not None:
        data["service_defaults"]["command"] = command
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`chaosgate ARGS` in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", *args], capture_output=True, text=True, timeout=timeout
    )
