"""Fixtures for harness tests: a chaos.yaml describing the session stack, for the CLI to run against."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack_config(local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chaos.yaml for the session stack (its ports and run dir), with the repository's scenarios beside it."""
    folder = tmp_path_factory.mktemp("config")
    data = local_stack.topology.portable_dump()
    data["run_dir"] = str(local_stack.run_dir)
    (folder / "chaos.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "scenarios").symlink_to(ROOT / "scenarios")
    return folder / "chaos.yaml"
