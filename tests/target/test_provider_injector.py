"""SecureConnect's provider injector (its chaosgate plugin) against the push-provider simulator of the
local stack: apply, verify, remove."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment
from chaosgate.registry import default_injectors
from chaosgate.stack.launcher import LocalStack
from target_system.chaos.provider import ProviderFault, ProviderInjector


@pytest.fixture
def injector(running_stack: LocalStack) -> Iterator[ProviderInjector]:
    env = FaultEnvironment(
        topology=running_stack.topology,
        proxy_api_url=running_stack.proxy_api_url,
        gateway_url=running_stack.gateway_url,
        stack=running_stack,
    )
    made = default_injectors()["provider"](env)
    assert isinstance(made, ProviderInjector)
    try:
        yield made
    finally:
        httpx.post(f"{made.base_url}/control/mode", json={"mode": "ok"}, timeout=5.0)
        made.close()


def fault(mode: str, **params: Any) -> ProviderFault:
    return ProviderFault.model_validate({"injector": "provider", "mode": mode, "duration": 5, **params})


def mode_of(injector: ProviderInjector) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{injector.base_url}/control/mode", timeout=5.0).json()
    return body


@pytest.mark.parametrize(
    ("spec", "evidence"),
    [
        (fault("503"), "answered 503"),
        (fault("429", retry_after_s=3), "answered 429"),
        (fault("invalid-tokens"), "answered 404"),
        (fault("slow", delay_ms=2000), "unanswered"),
    ],
    ids=lambda v: v.mode if isinstance(v, ProviderFault) else "",
)
def test_each_mode_is_applied_verified_and_removed(
    injector: ProviderInjector, spec: ProviderFault, evidence: str
) -> None:
    data = injector.apply(spec, fault_id="f1")
    assert mode_of(injector)["mode"] == spec.mode
    assert evidence in injector.verify(spec, data)

    injector.remove(spec, data)
    assert mode_of(injector)["mode"] == "ok"
    injector.remove(spec, data)  # idempotent: rollback, watchdog and sweep may all remove it
    assert mode_of(injector)["mode"] == "ok"
    with pytest.raises(FaultError):
        injector.verify(spec, data)  # removed: verification must now see no fault


def test_two_faults_on_the_provider_compose(injector: ProviderInjector) -> None:
    outage, slow = fault("503"), fault("slow", delay_ms=2000)
    first = injector.apply(outage, fault_id="outage")
    second = injector.apply(slow, fault_id="slow")  # push-outage: the slow phase begins ...
    injector.remove(outage, first)  # ... as the 503 phase ends
    assert mode_of(injector)["mode"] == "slow", "the slow fault lasted only until the 503 came off"
    assert "unanswered" in injector.verify(slow, second)
    injector.remove(slow, second)
    assert mode_of(injector)["mode"] == "ok"


def test_verify_fails_when_the_provider_shows_another_failure(injector: ProviderInjector) -> None:
    data = injector.apply(fault("503"), fault_id="f2")
    with pytest.raises(FaultError, match="expected '429'"):
        injector.verify(fault("429"), data)


def test_an_unreachable_simulator_is_a_fault_error(running_stack: LocalStack) -> None:
    topology = running_stack.topology
    services = dict(topology.services)
    services["push-provider"] = services["push-provider"].model_copy(update={"port": 1})
    env = FaultEnvironment(
        topology=topology.model_copy(update={"services": services}),
        proxy_api_url=running_stack.proxy_api_url,
        gateway_url=running_stack.gateway_url,
        call_timeout_s=1.0,
    )
    injector = ProviderInjector(env)
    with pytest.raises(FaultError, match="unreachable"):
        injector.apply(fault("503"), fault_id="f3")
    injector.close()
