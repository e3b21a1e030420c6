"""Container faults without an engine: their models bound what a scenario may ask, the runtimes they act
on are checked before anything is touched, and without an engine an injector says so in one line. The
same faults against a real engine: tests/compose/test_container_faults.py."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from chaosgate.config import load_topology
from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment
from chaosgate.injectors.netem import netem_args
from chaosgate.registry import builtin_injectors
from chaosgate.scenario.models import Fault, NetemFault
from chaosgate.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
FAULT: TypeAdapter[Any] = TypeAdapter(Fault)
CONTAINER_INJECTORS = ["docker", "partition", "netem", "pressure", "disk"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> FaultEnvironment:
    topology: Topology = load_topology(ROOT / "chaos.yaml")
    return FaultEnvironment(
        topology=topology,
        proxy_api_url="http://127.0.0.1:9",
        gateway_url="http://127.0.0.1:9",
        call_timeout_s=2,
        docker_host=f"unix://{tmp_path_factory.mktemp('engine')}/docker.sock",
        runtime="compose",
    )


def fault(**raw: Any) -> Any:
    return FAULT.validate_python({"duration": 5, **raw})


@pytest.mark.parametrize("name", CONTAINER_INJECTORS)
def test_no_engine_is_one_clear_fault_error(env: FaultEnvironment, name: str) -> None:
    with pytest.raises(FaultError, match="no Docker engine is reachable") as caught:
        builtin_injectors()[name](env)
    assert "container faults need the compose runtime" in str(caught.value)


@pytest.mark.parametrize("name", CONTAINER_INJECTORS)
def test_container_injectors_refuse_the_local_runtime(env: FaultEnvironment, name: str) -> None:
    with pytest.raises(FaultError, match=f"the {name} injector acts on containers: it runs on the compose"):
        builtin_injectors()[name](dataclasses.replace(env, runtime="local"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"injector": "docker", "container": "chat", "action": "explode"},
            "'kill', 'stop', 'pause' or 'restart'",
        ),
        ({"injector": "docker", "container": "chat; rm -rf /"}, "should match pattern"),
        ({"injector": "netem", "container": "chat"}, "needs at least one of delay_ms, loss"),
        (
            {"injector": "netem", "container": "chat", "delay_ms": 10, "jitter_ms": 50},
            "jitter_ms must not exceed",
        ),
        ({"injector": "netem", "container": "chat", "loss": 150}, "less than or equal to 100"),
        ({"injector": "netem", "container": "chat", "rate_kbit": 1}, "greater than or equal to 8"),
        ({"injector": "pressure", "container": "redis"}, "needs `cpus`"),
        (
            {"injector": "pressure", "container": "redis", "memory": "1MiB"},
            "greater than or equal to 6291456",
        ),
        ({"injector": "pressure", "container": "redis", "cpus": 0}, "greater than or equal to 0.01"),
        ({"injector": "disk", "store": "redis", "leave": "-1"}, "leave"),
    ],
)
def test_fault_models_bound_what_a_scenario_may_ask(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fault(**raw)


def test_sizes_and_netem_options_are_normalised_once() -> None:
    assert fault(injector="pressure", container="redis", memory="32MiB").memory == 32 * 2**20
    spec = fault(injector="netem", container="chat", delay_ms=200, jitter_ms=20, loss=2.5, rate_kbit=512)
    assert isinstance(spec, NetemFault)
    assert netem_args(spec) == ["delay", "200ms", "20ms", "loss", "2.5%", "rate", "512kbit"]


def _run(*args: str, config: Path = ROOT / "chaos.yaml") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_the_local_runtime_refuses_a_container_fault_before_touching_anything() -> None:
    done = _run("run", "cockroach-partition", "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cockroach-partition.yaml: faults[0].injector: injector 'partition' runs on" in done.stderr
    assert "the compose or remote runtime, not local: its faults act on containers" in done.stderr
    assert "Traceback" not in done.stderr


def test_all_on_the_local_runtime_skips_container_scenarios_and_names_them() -> None:
    done = _run("run", "--all", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (
        "skips cassandra-disk-full, chat-packet-loss, cockroach-partition, redis-memory-pressure"
        in done.stderr
    )
    assert "service-crash" in done.stdout and "cockroach-partition" not in done.stdout
