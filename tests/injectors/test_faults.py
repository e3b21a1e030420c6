"""The fault ledger and controller against a real proxy: ledger first, verified on the wire, always removable,
and removed by the deadline watchdog when the runner is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaosgate.errors import FaultError
from chaosgate.faults import FaultController, FaultLedger, LedgerEvent
from chaosgate.scenario.models import ToxiproxyFault
from chaosgate.topology import Topology, load_topology
from chaosgate.watchdog import spawn
from injectors.base import FaultEnvironment, default_injectors
from injectors.toxiproxy import ToxiproxyClient


@pytest.fixture
def topology(
    tmp_path: Path, proxy_server: str, echo_upstream: int, new_port: Callable[[], int]
) -> Iterator[Topology]:
    api_port = int(proxy_server.rsplit(":", 1)[1])
    config = tmp_path / "chaos.yaml"
    config.write_text(
        f"""
runtime: local
run_dir: run
proxy: {{api_port: {api_port}}}
stores:
  echo: {{kind: redis, role: redis, port: {echo_upstream}}}
links:
  echo: {{listen: {new_port()}}}
services:
  web: {{port: {new_port()}, links: [echo]}}
service_defaults: {{command: ["{{python}}", "-m", "nothing", "{{service}}"]}}
gateway: web
features:
  f: {{depends_on: [web]}}
"""
    )
    topo = load_topology(config)
    with ToxiproxyClient(proxy_server) as client:
        client.reset()
        for name in list(client.proxies()):
            client.delete_proxy(name)
        client.populate(topo.proxies_config())
        yield topo
        client.reset()


def controller_for(topology: Topology, proxy_server: str, ledger: Path) -> FaultController:
    env = FaultEnvironment(topology=topology, proxy_api_url=proxy_server, gateway_url="http://127.0.0.1:9")
    return FaultController(FaultLedger(ledger), default_injectors(), env)


def latency(ms: int, duration: float = 30) -> ToxiproxyFault:
    return ToxiproxyFault.model_validate(
        {
            "injector": "toxiproxy",
            "proxy": "echo",
            "toxic": {"type": "latency", "attributes": {"latency": ms}},
            "duration": duration,
        }
    )


def test_inject_writes_the_ledger_first_and_verifies_on_the_wire(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    controller = controller_for(topology, proxy_server, tmp_path / "ledger.jsonl")
    started = time.monotonic()
    fault = controller.inject(latency(300), fault_id="f1", deadline=time.time() + 60)
    assert time.monotonic() - started < 1.0, "apply + verify within the one-second budget"
    assert [e for e, _, _ in fault.history] == [
        LedgerEvent.APPLYING,
        LedgerEvent.APPLIED,
        LedgerEvent.VERIFIED,
    ]
    assert "latency" in fault.history[-1][2]
    with ToxiproxyClient(proxy_server) as client:
        assert [t.name for t in client.toxics("echo")] == ["chaosgate-f1"]
    assert [f.fault_id for f in controller.ledger.active()] == ["f1"]

    controller.remove(fault)
    with ToxiproxyClient(proxy_server) as client:
        assert client.toxics("echo") == []
    assert controller.ledger.active() == []


def test_a_down_link_is_verified_as_refused(topology: Topology, proxy_server: str, tmp_path: Path) -> None:
    controller = controller_for(topology, proxy_server, tmp_path / "ledger.jsonl")
    down = ToxiproxyFault.model_validate(
        {"injector": "toxiproxy", "proxy": "echo", "down": True, "duration": 5}
    )
    fault = controller.inject(down, fault_id="d1", deadline=time.time() + 60)
    assert "refused" in fault.history[-1][2]
    assert controller.rollback() == []
    with ToxiproxyClient(proxy_server) as client:
        assert client.proxy("echo").enabled


def test_a_new_controller_sweeps_what_a_dead_one_left(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    controller_for(topology, proxy_server, ledger).inject(
        latency(50), fault_id="left", deadline=time.time() + 60
    )
    # A second controller (the next run) knows nothing but the ledger on disk.
    sweeper = controller_for(topology, proxy_server, ledger)
    assert [f.fault_id for f in sweeper.ledger.active()] == ["left"]
    assert sweeper.rollback() == []
    with ToxiproxyClient(proxy_server) as client:
        assert client.toxics("echo") == []
    sweeper.ledger.compact()
    assert not ledger.exists()


def test_a_fault_on_an_unknown_proxy_fails_and_leaves_nothing_active(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    controller = controller_for(topology, proxy_server, tmp_path / "ledger.jsonl")
    bad = latency(10).model_copy(update={"proxy": "nope"})
    with pytest.raises(FaultError):
        controller.inject(bad, fault_id="x", deadline=time.time() + 60)
    assert controller.rollback() == []  # the applying entry is swept: removing a toxic that never was is fine
    assert controller.ledger.active() == []


def test_the_watchdog_removes_expired_faults_and_everything_once_the_runner_died(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        controller = controller_for(topology, proxy_server, ledger)
        # Pretend the owner applied both: one expires in a second, one only much later.
        for fid, deadline in (("soon", time.time() + 1.0), ("later", time.time() + 600)):
            fault = controller.inject(latency(20), fault_id=fid, deadline=deadline)
            fault.owner_pid = owner.pid
        watchdog = spawn(
            ledger=ledger,
            config=topology.source,
            run_dir=tmp_path / "run",
            owner_pid=owner.pid,
            log=tmp_path / "watchdog.log",
        )
        try:
            names = _wait_for_toxics(proxy_server, {"chaosgate-later"}, timeout_s=8)
            assert names == {"chaosgate-later"}, "the expired fault is gone, the live one stays"
            owner.kill()
            owner.wait()
            assert _wait_for_toxics(proxy_server, set(), timeout_s=8) == set()
            assert watchdog.wait(timeout=10) == 0
        finally:
            if watchdog.poll() is None:
                watchdog.kill()
    finally:
        if owner.poll() is None:
            owner.kill()
    assert not ledger.exists() or FaultLedger(ledger).active() == []
    assert os.path.getsize(tmp_path / "watchdog.log") > 0


def _wait_for_toxics(proxy_server: str, want: set[str], *, timeout_s: float) -> set[str]:
    deadline = time.monotonic() + timeout_s
    with ToxiproxyClient(proxy_server) as client:
        while True:
            names = {t.name for t in client.toxics("echo")}
            if names == want or time.monotonic() > deadline:
                return names
            time.sleep(0.1)
