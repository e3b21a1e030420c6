"""Shared fixtures: one real local stack per test session, profile switching and fault-proxy cleanup.

    local_stack      session: the whole stack up once (profile hardened), down at the end
    stack_profile    function: `with stack_profile("baseline", redis_retry=True): ...` restarts only
                     the services with that profile/switches and restores the previous ones afterwards
    running_stack    function: local_stack with every service alive (restarts any a test killed)
    settled_stack    module, autouse: after a module whose tests made Redis calls fail, waits out the
                     services' fallback hold, so that the next module finds the stack as it was
    proxy_api        session: the fault proxy's API base URL (Toxiproxy 2.x compatible)
    proxy_reset      function: POSTs /reset to the proxy after the test (use it in tests that add toxics)

Environment: CHAOSGATE_TEST_PORT_OFFSET moves every port of chaos.yaml (to run beside a dev stack);
under pytest-xdist (`-n N`) each worker is a session with a stack of its own, and worker gwK moves its
ports K * WORKER_PORT_STEP further (pytest_configure below). CHAOSGATE_TEST_SERVICES=none|a,b runs only
those services (all by default, none while target_system has no __main__). The session's run dir is
$TMPDIR/chaosgate-session-stack-<offset>; its logs stay there after the run (CHAOSGATE_KEEP_RUN_DIR=1
keeps the data dirs too).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaosgate.config import load_topology
from chaosgate.stack.launcher import LocalStack
from chaosgate.topology import Topology
from target_system.settings import Tunables

ROOT = Path(__file__).resolve().parent.parent

ProfileSwitcher = Callable[..., contextlib.AbstractContextManager[LocalStack]]

# Worker gwK's ports are chaos.yaml's + K * 100: for K < 8 these sets, and the ones tests place relative
# to them (tests/stack: +1170, +1330; tests/own_system: +2000), never share a port with one another nor
# with the compose tests' (+7050), and stay below Linux's ephemeral ports (32768).
WORKER_PORT_STEP = 100
MAX_WORKERS = 8


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, moves this worker's ports (CHAOSGATE_TEST_PORT_OFFSET, read by the fixtures
    and the tests that place stacks of their own) clear of every other worker's."""
    worker = getattr(config, "workerinput", None)  # set in xdist's workers only, not in their controller
    if worker is None:
        return
    index = int(worker["workerid"].removeprefix("gw"))
    if index >= MAX_WORKERS:
        raise pytest.UsageError(f"at most {MAX_WORKERS} xdist workers: their stacks' ports would meet")
    base = int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0"))
    os.environ["CHAOSGATE_TEST_PORT_OFFSET"] = str(base + WORKER_PORT_STEP * index)


def services_available() -> bool:
    """True once target_system can be started (`python -m target_system SERVICE`)."""
    return importlib.util.find_spec("target_system.__main__") is not None


def selected_services() -> list[str] | None:
    """Services the session stack runs: all (None), or CHAOSGATE_TEST_SERVICES (`none` or a list)."""
    chosen = os.environ.get("CHAOSGATE_TEST_SERVICES", "").strip()
    if chosen == "none" or not services_available():
        return []
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return None


@pytest.fixture(scope="session")
def topology() -> Topology:
    """chaos.yaml of this repository (ports moved by CHAOSGATE_TEST_PORT_OFFSET, if set)."""
    loaded = load_topology(ROOT / "chaos.yaml")
    offset = int(os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0"))
    return loaded.with_port_offset(offset) if offset else loaded


@pytest.fixture(scope="session")
def local_stack(topology: Topology) -> Iterator[LocalStack]:
    """The whole stack, up once per session with profile hardened, fresh data every session."""
    offset = os.environ.get("CHAOSGATE_TEST_PORT_OFFSET", "0")
    # One fixed run dir per port set, under /tmp (PostgreSQL runs as `nobody` when we are root and
    # must traverse into it; pytest's base dir is private). Fixed, so that the stack of a session
    # that was killed is found and swept by the next one; locked, so that a session running at the
    # same time is told so instead of having its stack taken down.
    run_dir = Path(tempfile.gettempdir()) / f"chaosgate-session-stack-{offset}"
    run_dir.mkdir(exist_ok=True)
    run_dir.chmod(0o755)
    with open(run_dir / "session.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail(
                f"another test session is using the stack in {run_dir}; wait for it, or run this one "
                "on other ports with CHAOSGATE_TEST_PORT_OFFSET=<n>",
                pytrace=False,
            )
        stack = LocalStack(topology, run_dir=run_dir, profile="hardened", services=selected_services())
        stack.down()  # whatever a killed session left behind
        shutil.rmtree(run_dir / "data", ignore_errors=True)
        shutil.rmtree(run_dir / "logs", ignore_errors=True)
        (run_dir / "jwt_secret").unlink(missing_ok=True)
        try:
            stack.up()
            SESSION_STACKS.append(stack)
            yield stack
        finally:
            SESSION_STACKS.clear()
            stack.down()
            if os.environ.get("CHAOSGATE_KEEP_RUN_DIR") != "1":
                shutil.rmtree(run_dir / "data", ignore_errors=True)


# The session stack once a test has started it (settled_stack must not start it for a module without one).
SESSION_STACKS: list[LocalStack] = []


def redis_failures(stack: LocalStack) -> float:
    """Redis calls that failed after every attempt, summed over the services' /metrics."""
    total = 0.0
    with httpx.Client(timeout=5.0) as client:
        for name in stack.services:
            try:
                text = client.get(stack.url_of(name) + "/metrics").text
            except httpx.HTTPError:
                continue  # killed by a test: restarted, its count starts again (a change all the same)
            lines = (line for line in text.splitlines() if line.startswith("redis_unavailable_total{"))
            total += sum(float(line.rsplit(" ", 1)[1]) for line in lines)
    return total


@pytest.fixture(scope="module", autouse=True)
def settled_stack() -> Iterator[None]:
    """After a Redis call fails, a hardened service skips Redis for `redis_down_hold` and answers
    degraded meanwhile: a module that ends just after rolling back a Redis fault would hand the next
    module a stack still holding. Serially the next module was always the same one; under xdist
    (scripts/test) any module may follow, so the hold is waited out here when Redis failed."""
    before = redis_failures(SESSION_STACKS[0]) if SESSION_STACKS else 0.0  # a fresh stack counts 0
    yield
    if SESSION_STACKS and redis_failures(SESSION_STACKS[0]) != before:
        time.sleep(Tunables().redis_down_hold + 0.5)  # + the last failing call, on a busy machine


@pytest.fixture
def running_stack(local_stack: LocalStack) -> LocalStack:
    """local_stack with every service alive: a service a previous test killed is started again."""
    for name in local_stack.services:
        if local_stack.pid_of(name) is None:
            local_stack.start_service(name)
    return local_stack


@pytest.fixture
def stack_profile(local_stack: LocalStack) -> Iterator[ProfileSwitcher]:
    """A context manager factory: run a block with the services on another profile/switches."""

    @contextlib.contextmanager
    def use(profile: str, *, env: dict[str, str] | None = None, **switches: bool) -> Iterator[LocalStack]:
        before = (local_stack.profile, dict(local_stack.switches), dict(local_stack.service_env))
        local_stack.restart_services(profile=profile, switches=switches, env=env or {})
        try:
            yield local_stack
        finally:
            local_stack.restart_services(profile=before[0], switches=before[1], env=before[2])

    yield use


@pytest.fixture(scope="session")
def proxy_api(local_stack: LocalStack) -> str:
    """Base URL of the fault proxy's Toxiproxy-compatible HTTP API."""
    return local_stack.proxy_api_url


@pytest.fixture
def proxy_reset(proxy_api: str) -> Iterator[str]:
    """Yields the proxy API URL; afterwards removes every toxic and re-enables every proxy."""
    yield proxy_api
    response = httpx.post(f"{proxy_api}/reset", timeout=5.0)
    response.raise_for_status()


def pytest_report_header(config: Any) -> str:
    return f"chaosgate: target_system services {'available' if services_available() else 'not built yet'}"


# -- the two distributions, built and installed apart ---------------------------------------------------


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The engine's and the target's wheels (no dependencies), by distribution name."""
    out = tmp_path_factory.mktemp("wheels")
    # Both are built from copies: setuptools builds in the project's folder (build/, *.egg-info), where a
    # second build at the same time (another xdist worker, a developer's pip install) fails on its files.
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    engine = tmp_path_factory.mktemp("engine")
    for part in ("chaosgate", "injectors"):
        shutil.copytree(ROOT / part, engine / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, engine / part)
    target = tmp_path_factory.mktemp("target") / "target_system"
    shutil.copytree(ROOT / "target_system", target, ignore=skip)
    for project in (engine, target):
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(project), "-w", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert built.returncode == 0, built.stderr[-2000:]
    return {path.name.split("-", 1)[0]: path for path in out.glob("*.whl")}


@pytest.fixture(scope="session")
def engine_only_python(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv holding only the chaosgate wheel and what it requires (from the
    package index): what `pip install chaosgate` gives a user, without the reference target."""
    venv = tmp_path_factory.mktemp("engine-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheels["chaosgate"])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python
