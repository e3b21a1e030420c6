"""The fault ledger and controller against a real proxy: ledger first, verified on the wire, always removable,
and removed by the deadline watchdog when the runner is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaosgate.cli import cli
from chaosgate.config import load_topology
from chaosgate.errors import FaultError
from chaosgate.faults import LEDGER_FILE, FaultController, FaultLedger, LedgerEvent
from chaosgate.injection import FaultEnvironment
from chaosgate.proxy.client import ToxiproxyClient
from chaosgate.registry import default_injectors
from chaosgate.scenario.models import ToxiproxyFault
from chaosgate.topology import Topology
from chaosgate.watchdog import spawn


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


def test_a_down_link_whose_proxy_is_deleted_mid_fault_is_closed_as_gone_not_left_to_block(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    down = ToxiproxyFault.model_validate(
        {"injector": "toxiproxy", "proxy": "echo", "down": True, "duration": 30}
    )
    controller_for(topology, proxy_server, ledger).inject(down, fault_id="d1", deadline=time.time() + 60)
    with ToxiproxyClient(proxy_server) as client:
        client.delete_proxy("echo")  # someone removed the link while the fault was on
    sweeper = controller_for(topology, proxy_server, ledger)
    assert sweeper.rollback() == [], "a target that is gone is not a removal to retry"
    assert sweeper.ledger.active() == []
    [fault] = sweeper.ledger.replay()
    event, _, detail = fault.history[-1]
    assert event is LedgerEvent.GONE and "no proxy 'echo'" in detail
    assert controller_for(topology, proxy_server, ledger).rollback() == []  # the next run starts clean


def test_on_a_shared_toxiproxy_only_what_chaosgate_added_is_taken_back(
    topology: Topology, proxy_server: str, tmp_path: Path, echo_upstream: int, new_port: Callable[[], int]
) -> None:
    with ToxiproxyClient(proxy_server) as client:
        # Someone else's: a proxy they took down, and a toxic of theirs on our link.
        client.create_proxy("theirs", upstream=f"127.0.0.1:{echo_upstream}", listen=f"127.0.0.1:{new_port()}")
        client.disable("theirs")
        client.add_toxic("echo", "latency", attributes={"latency": 5}, name="their-latency")
    controller = controller_for(topology, proxy_server, tmp_path / "ledger.jsonl")
    down = ToxiproxyFault.model_validate(
        {"injector": "toxiproxy", "proxy": "theirs", "down": True, "duration": 30}
    )
    theirs_down = controller.inject(down, fault_id="t1", deadline=time.time() + 60)
    slow = controller.inject(latency(300), fault_id="t2", deadline=time.time() + 60)
    controller.remove(slow)
    controller.remove(theirs_down)
    with ToxiproxyClient(proxy_server) as client:
        proxies = client.proxies()
        assert proxies["theirs"].enabled is False, "a proxy someone else took down stays down"
        assert [t.name for t in proxies["echo"].toxics] == ["their-latency"]
        client.delete_proxy("theirs")


def test_faults_command_lists_what_the_ledger_holds_and_clears_it(
    topology: Topology, proxy_server: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    controller = controller_for(topology, proxy_server, run_dir / LEDGER_FILE)
    controller.inject(latency(200), fault_id="left-1", deadline=time.time() + 60)
    config = str(topology.source)
    listed = CliRunner().invoke(cli, ["faults", "--config", config, "--run-dir", str(run_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["id"] == "left-1" and entry["open"] and entry["spec"]["proxy"] == "echo"
    table = CliRunner().invoke(cli, ["faults", "--config", config, "--run-dir", str(run_dir)])
    assert "left-1" in table.output and "open" in table.output

    cleared = CliRunner().invoke(cli, ["faults", "--config", config, "--run-dir", str(run_dir), "--clear"])
    assert cleared.exit_code == 0 and "cleared 1 open fault" in cleared.output
    assert FaultLedger(run_dir / LEDGER_FILE).active() == []
    with ToxiproxyClient(proxy_server) as client:
        assert len(client.toxics("echo")) == 1, "--clear forgets; it does not touch the system"
        client.remove_toxic("echo", "chaosgate-left-1")


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
