"""Container faults on the compose runtime: kill, stop, pause or restart a container through the Docker
Engine API, each checked on the wire (its port stops answering) and undone on removal."""

from __future__ import annotations

from chaosgate.errors import FaultError
from chaosgate.injection import HandleData
from chaosgate.scenario.models import DockerFault

from .containers import ContainerInjector, expect_silence, wire_for

# What each action leaves the container as, for verification.
BROKEN = {"kill": {"exited", "dead"}, "stop": {"exited", "dead"}, "pause": {"paused"}}


class DockerInjector(ContainerInjector[DockerFault]):
    """kill → started again on removal (as `restart: unless-stopped` would); stop → started; pause →
    unpaused; restart → nothing to undo but a container left down is started. The engine comes from
    chaos.yaml's remote.docker_host, else DOCKER_HOST (or the local socket), as the docker CLI does; a
    container is a compose service of chaos.yaml's project (by the compose labels), or named as is."""

    name = "docker"
    fault = DockerFault

    def apply(self, spec: DockerFault, *, fault_id: str) -> HandleData:
        container = self.engine.container(spec.container)
        container.reload()
        started_at = str(container.attrs["State"].get("StartedAt", ""))
        if spec.action == "kill":
            container.kill()
        elif spec.action == "stop":
            container.stop(timeout=5)
        elif spec.action == "pause":
            container.pause()
        else:
            container.restart(timeout=5)
        return {"container": container.id, "started_at": started_at}

    def verify(self, spec: DockerFault, data: HandleData) -> str:
        container = self.engine.container(spec.container)
        wire = wire_for(self.env, spec.container)
        if spec.action == "restart":
            self.engine.wait_status(container, {"running"}, "restart")
            started_at = str(container.attrs["State"].get("StartedAt", ""))
            if started_at == data.get("started_at"):
                raise FaultError(f"container {container.name} did not restart (started at {started_at})")
            return f"container {container.name} restarted (started again at {started_at})"
        status = self.engine.wait_status(container, BROKEN[spec.action], spec.action)
        return expect_silence(wire, f"container {container.name} is {status}")

    def remove(self, spec: DockerFault, data: HandleData) -> None:
        container = self.engine.container(spec.container)
        container.reload()
        if container.status == "paused":
            container.unpause()
        elif container.status in ("exited", "created", "dead"):
            container.start()
