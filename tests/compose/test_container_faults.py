"""Container faults against the real engine, on the session's compose stack: each is applied, seen on
the wire, removed (twice: removal is idempotent), and the stack is whole again; the watchdog removes
one whose runner died."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from chaosgate.faults import FaultController, FaultLedger
from chaosgate.injectors.containers import wire_for
from chaosgate.registry import builtin_injectors
from chaosgate.scenario.models import Fault, FaultBase
from chaosgate.stack.compose_runtime import ComposeStack
from chaosgate.watchdog import watch

pytestmark = pytest.mark.compose
FAULT: TypeAdapter[Any] = TypeAdapter(Fault)


def fault(**raw: Any) -> FaultBase:
    spec: FaultBase = FAULT.validate_python({"duration": 5, **raw})
    return spec


def answers(stack: ComposeStack, component: str, *, within: float = 20.0) -> bool:
    """Whether the component answers on the wire again within `within` seconds (bounded)."""
    wire = wire_for(stack.fault_environment(), component)
    assert wire is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if wire.ask()[0]:
            return True
        time.sleep(0.2)
    return False


def break_and_restore(stack: ComposeStack, spec: FaultBase) -> str:
    injector = builtin_injectors()[spec.injector](stack.fault_environment())
    try:
        data = injector.apply(spec, fault_id=f"test-{spec.injector}")
        try:
            evidence = injector.verify(spec, data)
        finally:
            injector.remove(spec, data)
            injector.remove(spec, data)  # idempotent: rollback, the watchdog and the sweep may all call it
    finally:
        injector.close()
    return evidence


@pytest.mark.parametrize(
    ("action", "seen"),
    [("kill", "is exited"), ("stop", "is exited"), ("pause", "is paused"), ("restart", "restarted")],
)
def test_docker_actions_are_seen_on_the_wire_and_undone(
    compose_stack: ComposeStack, action: str, seen: str
) -> None:
    evidence = break_and_restore(
        compose_stack, fault(injector="docker", container="push-provider", action=action)
    )
    assert seen in evidence
    if action != "restart":
        assert "127.0.0.1:" in evidence  # the published port stopped answering
    assert answers(compose_stack, "push-provider")


def test_a_partitioned_store_keeps_running_and_comes_back_with_its_name(compose_stack: ComposeStack) -> None:
    evidence = break_and_restore(compose_stack, fault(injector="partition", container="redis"))
    assert "(running) is off" in evidence and "_default" in evidence
    container = compose_stack.containers()["redis"]
    container.reload()
    aliases = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["Aliases"]
    assert "redis" in aliases  # the compose name resolves again inside the stack
    assert answers(compose_stack, "redis")


def test_packet_loss_drops_what_the_container_sends(compose_stack: ComposeStack) -> None:
    evidence = break_and_restore(compose_stack, fault(injector="netem", container="chat", loss=50))
    assert "packets dropped" in evidence or "netem" in evidence
    assert answers(compose_stack, "chat")


def test_pressure_lowers_and_restores_the_cgroup_limits(compose_stack: ComposeStack) -> None:
    container = compose_stack.containers()["video"]
    before = {k: container.attrs["HostConfig"][k] for k in ("CpuQuota", "Memory")}
    evidence = break_and_restore(
        compose_stack, fault(injector="pressure", container="video", cpus=0.2, memory="200MiB")
    )
    assert "0.2 CPUs" in evidence and "200 MiB" in evidence
    container.reload()
    assert container.attrs["HostConfig"]["CpuQuota"] in (before["CpuQuota"], -1)
    assert (
        container.attrs["HostConfig"]["Memory"] == before["Memory"]
        or container.attrs["HostConfig"]["Memory"] > 2**30
    )


def test_a_full_volume_refuses_writes_and_is_emptied(compose_stack: ComposeStack) -> None:
    evidence = break_and_restore(compose_stack, fault(injector="disk", store="cockroach"))
    assert "No space left on device" in evidence
    container = compose_stack.containers()["cockroach"]
    listed = container.exec_run(["ls", "-a", "/cockroach/cockroach-data"]).output.decode()
    assert ".chaosgate-fill" not in listed


def test_the_watchdog_reconnects_a_partition_whose_runner_died(
    compose_stack: ComposeStack, tmp_path: Path
) -> None:
    ledger = FaultLedger(tmp_path / "faults.jsonl")
    controller = FaultController(ledger, builtin_injectors(), compose_stack.fault_environment())
    try:
        controller.inject(
            fault(injector="partition", container="objectstore"), fault_id="w1", deadline=time.time() + 60
        )
        assert not answers(compose_stack, "objectstore", within=1.0)
        dead_runner = 2**22 + 1  # above pid_max's default: no such process
        watch(controller, dead_runner, poll_s=0.05)
        assert ledger.active() == []
    finally:
        controller.rollback()
        controller.close()
    assert answers(compose_stack, "objectstore")
    # The stack as a whole is healthy again (its gateway reaches the object store through the proxy).
    assert httpx.get(f"{compose_stack.gateway_url}/health/live", timeout=5).status_code == 200
