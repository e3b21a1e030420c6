"""Container faults on the compose runtime: kill, stop or pause a container through the Docker Engine API."""

from __future__ import annotations

import os
import time
from typing import Any

from chaosgate.errors import FaultError
from chaosgate.scenario.models import DockerFault
from injectors.base import FaultEnvironment, HandleData, Injector

COMPOSE_PROJECT = "secureconnect"


class DockerInjector(Injector[DockerFault]):
    """kill → restarted on removal (`docker start`, as `restart: unless-stopped` would); stop → started;
    pause → unpaused. The engine comes from chaos.yaml's remote.docker_host, else DOCKER_HOST (or the
    local socket), as the docker CLI does."""

    name = "docker"

    def __init__(self, env: FaultEnvironment, *, base_url: str | None = None) -> None:
        super().__init__(env)
        import docker  # imported here: the SDK is only needed on the compose runtime

        self._errors = docker.errors
        url = base_url or env.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        try:
            self.client = docker.DockerClient(base_url=url, timeout=int(env.call_timeout_s), version="1.43")
            self.client.ping()
        except Exception as exc:
            raise FaultError(
                f"no Docker engine is reachable at {url} ({type(exc).__name__}); the docker injector "
                "needs the compose runtime (`chaosgate stack up --runtime compose`), chaos.yaml's "
                "remote.docker_host or DOCKER_HOST"
            ) from None

    def close(self) -> None:
        self.client.close()

    def _container(self, name: str) -> Any:
        for candidate in (name, f"{COMPOSE_PROJECT}-{name}-1"):
            try:
                return self.client.containers.get(candidate)
            except self._errors.NotFound:
                continue
        raise FaultError(f"no container named {name!r} (nor {COMPOSE_PROJECT}-{name}-1)")

    def apply(self, spec: DockerFault, *, fault_id: str) -> HandleData:
        container = self._container(spec.container)
        if spec.action == "kill":
            container.kill()
        elif spec.action == "stop":
            container.stop(timeout=5)
        else:
            container.pause()
        return {"container": container.id}

    def verify(self, spec: DockerFault, data: HandleData) -> str:
        want = "paused" if spec.action == "pause" else "exited"
        deadline = time.monotonic() + 1.0
        container = self._container(spec.container)
        while True:
            container.reload()
            status = container.status
            if status == want:
                return f"container {container.name} is {status}"
            if time.monotonic() > deadline:
                raise FaultError(f"container {container.name} is {status}, not {want}, after {spec.action}")
            time.sleep(0.05)

    def remove(self, spec: DockerFault, data: HandleData) -> None:
        container = self._container(spec.container)
        container.reload()
        if container.status == "paused":
            container.unpause()
        elif container.status in ("exited", "created", "dead"):
            container.start()
