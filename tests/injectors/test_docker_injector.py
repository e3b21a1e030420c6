"""The docker injector against the Docker Engine API: without an engine it fails clearly; against a
server speaking the Engine API's contract (no engine can run here) it kills, stops, pauses and restores."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from chaosgate.errors import FaultError
from chaosgate.scenario.models import DockerFault
from chaosgate.topology import Topology, load_topology
from injectors.base import FaultEnvironment
from injectors.docker import DockerInjector

ROOT = Path(__file__).resolve().parents[2]


class FakeEngine(BaseHTTPRequestHandler):
    """The few Engine API v1.43 endpoints the injector uses, with container state transitions."""

    containers: ClassVar[dict[str, str]] = {}
    calls: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            self._reply(200, "OK")
            return
        match = re.match(r"^/v1\.43/containers/([^/]+)/json", self.path)
        if match and match.group(1) in self.containers:
            name = match.group(1)
            self._reply(200, {"Id": name, "Name": f"/{name}", "State": {"Status": self.containers[name]}})
            return
        self._reply(404, {"message": f"No such container: {self.path}"})

    def do_POST(self) -> None:
        match = re.match(r"^/v1\.43/containers/([^/]+)/(kill|stop|pause|unpause|start)", self.path)
        if not match or match.group(1) not in self.containers:
            self._reply(404, {"message": "No such container"})
            return
        name, action = match.groups()
        self.calls.append(f"{action} {name}")
        self.containers[name] = {"kill": "exited", "stop": "exited", "pause": "paused"}.get(action, "running")
        self._reply(204)


@pytest.fixture
def engine() -> Iterator[str]:
    FakeEngine.containers = {"secureconnect-chat-1": "running"}
    FakeEngine.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def env() -> FaultEnvironment:
    topology: Topology = load_topology(ROOT / "chaos.yaml")
    return FaultEnvironment(
        topology=topology,
        proxy_api_url="http://127.0.0.1:9",
        gateway_url="http://127.0.0.1:9",
        call_timeout_s=2,
    )


def fault(action: str) -> DockerFault:
    return DockerFault.model_validate(
        {"injector": "docker", "container": "chat", "action": action, "duration": 5}
    )


def test_no_engine_is_one_clear_fault_error(env: FaultEnvironment, tmp_path: Path) -> None:
    with pytest.raises(FaultError, match="no Docker engine is reachable"):
        DockerInjector(env, base_url=f"unix://{tmp_path}/docker.sock")


@pytest.mark.parametrize(
    ("action", "broken", "restore"),
    [("kill", "exited", "start"), ("stop", "exited", "start"), ("pause", "paused", "unpause")],
)
def test_each_action_is_applied_verified_and_undone(
    env: FaultEnvironment, engine: str, action: str, broken: str, restore: str
) -> None:
    injector = DockerInjector(env, base_url=engine)
    spec = fault(action)
    data = injector.apply(spec, fault_id="d1")
    assert FakeEngine.containers["secureconnect-chat-1"] == broken
    assert broken in injector.verify(spec, data)
    injector.remove(spec, data)
    assert FakeEngine.containers["secureconnect-chat-1"] == "running"
    assert FakeEngine.calls == [f"{action} secureconnect-chat-1", f"{restore} secureconnect-chat-1"]
    injector.remove(spec, data)  # idempotent: a running container is left alone
    assert len(FakeEngine.calls) == 2
    injector.close()


def test_an_unknown_container_is_named(env: FaultEnvironment, engine: str) -> None:
    injector = DockerInjector(env, base_url=engine)
    spec = fault("kill").model_copy(update={"container": "billing"})
    with pytest.raises(FaultError, match="no container named 'billing'"):
        injector.apply(spec, fault_id="d2")


def test_the_engine_comes_from_chaos_yaml_remote_docker_host(
    env: FaultEnvironment, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # remote.docker_host wins
    injector = DockerInjector(dataclasses.replace(env, docker_host=engine))
    spec = fault("pause")
    data = injector.apply(spec, fault_id="d3")
    assert FakeEngine.containers["secureconnect-chat-1"] == "paused"
    injector.remove(spec, data)
    assert FakeEngine.calls == ["pause secureconnect-chat-1", "unpause secureconnect-chat-1"]
    injector.close()
