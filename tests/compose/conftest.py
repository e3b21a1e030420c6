"""The compose runtime against a real Docker engine: one compose project for the session, from the local
image set, in its own folder with its own ports and name, torn down at the end with nothing left.

    compose_stack   package: the project up and healthy (images built first, cached in Docker's store),
                    down again once this folder's tests are done

Environment: CHAOSGATE_TEST_PORT_OFFSET (+50: beside this session's local stack) moves its ports. Without
an engine the tests skip, except under CI, where scripts/test starts one (scripts/docker-engine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosgate.config import load_topology
from chaosgate.errors import StackError
from chaosgate.stack.compose_runtime import ComposeStack, ImageSetChoice, project_beside
from chaosgate.stack.engine import docker_client

ROOT = Path(__file__).resolve().parents[2]
UP_TIMEOUT_S = 240.0


def offset() -> int:
    return int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0")) + 50


@pytest.fixture(scope="session")
def engine_ready() -> None:
    try:
        docker_client().close()
    except StackError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (scripts/test starts one with scripts/docker-engine)")
        pytest.skip(str(exc))


@pytest.fixture(scope="package")  # down before the local runtime's e2e tests share the CPU with it
def compose_stack(engine_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    folder = tmp_path_factory.mktemp("compose")
    config = project_beside(
        ROOT / "chaos.yaml", folder, name=f"chaosgate-test-{offset()}", port_offset=offset()
    )
    stack = ComposeStack(load_topology(config), images=ImageSetChoice.LOCAL, say=lambda line: None)
    stack.down()  # an earlier session's leftovers, if it was killed
    try:
        stack.up(profile="hardened", switches={}, timeout=UP_TIMEOUT_S)
        yield stack
    finally:
        stack.down()
        leftovers = stack.leftovers()
        assert leftovers == [], f"compose down left {leftovers}"
