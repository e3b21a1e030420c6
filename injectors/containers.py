"""What the container injectors share: the engine, finding a compose service's container by the compose
labels, its stack network and process, and asking a component on the wire whether it answers."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from chaosgate.errors import FaultError, StackError
from chaosgate.injection import FaultEnvironment, Injector, Runtime, SpecT
from chaosgate.stack.engine import docker_client, is_local_engine
from chaosgate.topology import StoreKind

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NETWORK_LABEL = "com.docker.compose.network"
WIRE_TIMEOUT_S = 1.0
STATE_WAIT_S = 5.0

# What to send a component so that it answers something (any byte back counts): an HTTP request,
# a RESP PING, PostgreSQL's SSLRequest (also read, and answered with an error, by other servers).
HTTP_HELLO = b"GET %s HTTP/1.1\r\nHost: chaosgate\r\nConnection: close\r\n\r\n"
REDIS_HELLO = b"*1\r\n$4\r\nPING\r\n"
POSTGRES_HELLO = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


class ContainerEngine:
    """The Docker engine of a compose (or remote) stack, and its containers by compose service."""

    def __init__(self, env: FaultEnvironment) -> None:
        self.env = env
        try:
            self.client = docker_client(env.docker_host, timeout=max(10.0, env.call_timeout_s))
        except StackError as exc:
            raise FaultError(
                f"{exc}; container faults need the compose runtime (`chaosgate stack up --runtime compose`), "
                "chaos.yaml's remote.docker_host or DOCKER_HOST"
            ) from None

    def close(self) -> None:
        self.client.close()

    def container(self, name: str) -> Any:
        """The container of compose service `name` in chaos.yaml's project (by the compose labels, so
        `docker compose` v1 and v2 names alike), else the container named exactly `name`."""
        import docker.errors

        project = self.env.topology.name
        if project is not None:
            labels = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={name}"]
            found = self.client.containers.list(all=True, filters={"label": labels})
            if found:
                return found[0]
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            pass
        services = sorted(self.services()) if project is not None else []
        where = f" in compose project {project!r} (its services: {', '.join(services) or 'none running'})"
        raise FaultError(f"no container for {name!r}{where if project else ''}, nor one named so")

    def services(self) -> set[str]:
        project = self.env.topology.name
        found = self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        return {c.labels.get(SERVICE_LABEL, "") for c in found} - {""}

    def wait_status(self, container: Any, wanted: set[str], what: str) -> str:
        """Poll the engine (bounded) until the container's status is one of `wanted`."""
        deadline = time.monotonic() + STATE_WAIT_S
        while True:
            container.reload()
            status = str(container.status)
            if status in wanted:
                return status
            if time.monotonic() > deadline:
                raise FaultError(
                    f"container {container.name} is {status}, not {' or '.join(sorted(wanted))}, after {what}"
                )
            time.sleep(0.05)

    def stack_networks(self, container: Any) -> dict[str, dict[str, Any]]:
        """The container's networks (name -> its endpoint settings)."""
        container.reload()
        networks: dict[str, dict[str, Any]] = container.attrs["NetworkSettings"]["Networks"] or {}
        return networks

    def pid(self, container: Any) -> int:
        """The host pid of the container's main process (a running container's), for nsenter and /proc."""
        if not is_local_engine(self.env.docker_host):
            raise FaultError(
                "this fault enters the container's namespaces from the engine's own host, so it needs "
                "a local engine (unix socket), not DOCKER_HOST/remote.docker_host pointing elsewhere"
            )
        container.reload()
        pid = int(container.attrs["State"].get("Pid") or 0)
        if container.status != "running" or pid <= 0:
            raise FaultError(f"container {container.name} is {container.status}: no process to act in")
        return pid


def require_runtime(name: str, runtimes: frozenset[Runtime], env: FaultEnvironment) -> None:
    """FaultError unless the run's runtime is one the injector acts on (run_cli checks it earlier)."""
    if env.runtime not in runtimes:
        raise FaultError(
            f"the {name} injector acts on containers: it runs on the {' or '.join(sorted(runtimes))} "
            f"runtime, not {env.runtime}"
        )


class ContainerInjector(Injector[SpecT]):
    """What every container injector starts with: its runtime checked, then the engine; `runtimes`
    says where it acts (compose; `remote` too where the engine may be another host's)."""

    runtimes: ClassVar[frozenset[Runtime]] = frozenset({"compose", "remote"})

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        require_runtime(self.name, self.runtimes, env)
        self.engine = ContainerEngine(env)

    def close(self) -> None:
        self.engine.close()


# -- on the wire ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """How to reach a component from here and what to say so that it answers."""

    host: str
    port: int
    hello: bytes

    KINDS: ClassVar[dict[StoreKind, bytes]] = {
        StoreKind.REDIS: REDIS_HELLO,
        StoreKind.POSTGRES: POSTGRES_HELLO,
    }

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    def ask(self, timeout: float = WIRE_TIMEOUT_S) -> tuple[bool, str, float]:
        """(answered, what happened, seconds): connect, send the hello, wait for any byte back."""
        started = time.monotonic()
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                sock.settimeout(max(0.05, timeout - (time.monotonic() - started)))
                sock.sendall(self.hello)
                data = sock.recv(64)
        except TimeoutError:
            return False, f"no answer within {timeout:g}s", time.monotonic() - started
        except OSError as exc:
            return False, exc.strerror or type(exc).__name__, time.monotonic() - started
        elapsed = time.monotonic() - started
        if not data:
            return False, "connection closed without an answer", elapsed
        return True, f"answered in {elapsed * 1000:.0f} ms", elapsed


def wire_for(env: FaultEnvironment, component: str) -> Wire | None:
    """Where a store or service answers on this machine (its published port), and its hello; None
    for a container the topology does not publish."""
    topology = env.topology
    if component in topology.services:
        path = topology.health_path(component).encode()
        return Wire(topology.host, topology.services[component].port, HTTP_HELLO % path)
    store = topology.stores.get(component)
    if store is None or store.port is None:
        return None
    return Wire(topology.host, store.port, Wire.KINDS.get(store.kind, HTTP_HELLO % b"/"))


def expect_silence(wire: Wire | None, what: str) -> str:
    """Evidence that the component no longer answers (FaultError if it still does)."""
    if wire is None:
        return f"{what} (not published: not checked on the wire)"
    deadline = time.monotonic() + STATE_WAIT_S
    while True:
        answered, detail, _ = wire.ask()
        if not answered:
            return f"{what}; {wire.describe()}: {detail}"
        if time.monotonic() > deadline:
            raise FaultError(f"{what}, yet {wire.describe()} still answers ({detail})")
        time.sleep(0.1)
