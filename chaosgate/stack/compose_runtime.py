"""ComposeStack: the compose runtime's up, status and down, by driving the compose CLI, and the running
compose stack as the harness sees it (its URLs, what stands in each role, its fault environment).

The CLI is `docker compose` (v2) where that plugin is installed, else `docker-compose` (v1, Debian's
package). Neither's own waiting is used (v1 has no `--wait`): `up` starts the containers, then waits,
bounded, until every one of the project's containers runs and passes its health check, asking the
engine (containers are found by the compose labels, whatever the CLI names them).

Images: `upstream` (docker-compose.yml as generated: upstream images, the services' image built by
compose) or `local` (the local image set, built here without a registry, chaosgate/stack/images.py,
selected by docker-compose.local.yml on top).

Secrets: docker-compose.yml has no default for any `{secret:NAME}` of chaos.yaml's service env (it must
not publish one). Every compose command gets `CHAOSGATE_SECRET_<NAME>` from the environment if set there,
else a random one kept in the run dir (file NAME, mode 0600, like the local runtime's), so that `status`
and `down` interpolate the file as `up` did and a restarted stack keeps its sessions.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaosgate import compose
from chaosgate.errors import StackError
from chaosgate.injection import FaultEnvironment
from chaosgate.service_env import secrets_named
from chaosgate.stack import compose_files, images
from chaosgate.stack.engine import NoDockerEngine, docker_client
from chaosgate.stack.handover import format_switches, kept_secret, parse_switches
from chaosgate.stack.remote import RemoteStack
from chaosgate.topology import LOOPBACK, Topology

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
Say = Callable[[str], None]
CLI_TIMEOUT = 15.0  # `compose version`: a broken install must not hang us
DOWN_TIMEOUT = 120.0
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

__all__ = ["ComposeStack", "ContainerStatus", "ImageSetChoice", "NoDockerEngine"]


class ImageSetChoice(StrEnum):
    """Which images stand behind the roles: the upstream ones (a registry) or the local set."""

    UPSTREAM = "upstream"
    LOCAL = "local"


@dataclass(frozen=True)
class ContainerStatus:
    service: str
    state: str  # running, exited, ... ("missing" when the project has no container for it)
    health: str  # healthy, unhealthy, starting, or "" when the image has no healthcheck
    image: str = ""

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


class ComposeStack:
    """One compose project: the generated docker-compose.yml next to chaos.yaml, and its containers."""

    def __init__(
        self,
        topology: Topology,
        *,
        images: ImageSetChoice = ImageSetChoice.UPSTREAM,
        compose_cli: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        runner: Runner = subprocess.run,
        run_dir: Path | str | None = None,
        say: Say = print,
    ) -> None:
        self.topology = topology
        self.images = images
        self.run_dir = Path(run_dir if run_dir is not None else topology.default_run_dir()).resolve()
        self.project_dir = topology.source.parent
        self.compose_file = self.project_dir / compose.COMPOSE_FILE
        self.environ = dict(os.environ if environ is None else environ)
        self.say = say
        self._cli = list(compose_cli) if compose_cli is not None else None
        self._runner = runner
        self._client: Any = None
        self.services = topology.start_order()
        self.switches: dict[str, bool] = {}
        self.profile = "compose"

    # -- the engine and the compose CLI ------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client(self.environ.get("DOCKER_HOST") or None)
        return self._client

    def require_engine(self) -> None:
        """Raise NoDockerEngine (one line) unless an engine answers."""
        _ = self.client

    def compose_cli(self) -> list[str]:
        """`docker compose` if the plugin answers, else `docker-compose`; StackError names both."""
        if self._cli is None:
            for candidate in (["docker", "compose"], ["docker-compose"]):
                try:
                    done = self._run([*candidate, "version"], timeout=CLI_TIMEOUT)
                except StackError:
                    continue
                if done.returncode == 0:
                    self._cli = candidate
                    break
            else:
                raise StackError(
                    "no compose CLI: neither `docker compose` (the v2 plugin) nor `docker-compose` answers "
                    "(apt-get install docker-compose; scripts/docker-engine installs it)"
                )
        return list(self._cli)

    def _run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
             capture: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        try:
            return self._runner(
                list(argv),
                env={**self.environ, **(env or {})},
                capture_output=capture,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise StackError(f"{argv[0]} is not on PATH") from None
        except subprocess.TimeoutExpired:
            raise StackError(f"`{shlex.join(argv)}` gave no answer within {timeout:.0f}s") from None

    def require_current_files(self) -> None:
        """Refuse to start from a docker-compose.yml that no longer matches chaos.yaml."""
        stale = compose_files.check(self.topology)
        if stale:
            names = ", ".join(p.split(" ", 1)[0].removeprefix("--- ") for p in stale)
            raise StackError(
                f"the compose files are out of date with {self.topology.source.name} ({names}); "
                "run `chaosgate stack compose-file` to regenerate them"
            )

    def secret_env(self) -> dict[str, str]:
        """Every secret the services' env names ({secret:NAME}): the environment's if set, else this
        stack's own."""
        names = dict.fromkeys(
            name
            for service in self.topology.services
            for name in secrets_named(compose.service_environment_templates(self.topology, service))
        )
        return {
            compose.secret_var(name): self.environ.get(compose.secret_var(name), "").strip()
            or kept_secret(self.run_dir, name)
            for name in names
        }

    @property
    def project(self) -> str:
        return compose.project_name(self.topology)

    def compose_argv(self, *args: str) -> list[str]:
        files = ["-f", str(self.compose_file)]
        if self.images is ImageSetChoice.LOCAL:
            files += ["-f", str(self.project_dir / images.LOCAL_FILE)]
        return [
            *self.compose_cli(),
            "--project-name", self.project,
            "--project-directory", str(self.project_dir),
            *files,
            *args,
        ]  # fmt: skip

    # -- up, status, down ------------------------------------------------------------------------------

    def up(self, *, profile: str, switches: Mapping[str, bool], timeout: float = 300) -> None:
        """Start every container (the local set built first if asked for) and wait until all are healthy."""
        self.require_engine()
        self.require_current_files()
        if self.images is ImageSetChoice.LOCAL:
            images.ImageSet(self.topology, say=self.say, client=self.client).build()
        env = {
            compose.PROFILE_VAR: profile,
            compose.SWITCHES_VAR: format_switches(switches),
            **self.secret_env(),
        }
        build = "--no-build" if self.images is ImageSetChoice.LOCAL else "--build"
        argv = self.compose_argv("up", "--detach", "--remove-orphans", build)
        # Output goes straight to the terminal: image pulls and builds take minutes and show progress.
        done = self._run(argv, env=env, capture=False)
        if done.returncode != 0:
            raise StackError(
                f"`compose up` failed (exit {done.returncode}); see its output above, and "
                f"`{shlex.join(self.compose_argv('logs', '--tail', '50'))}`"
            )
        self.wait_healthy(timeout=timeout)

    def wait_healthy(self, *, timeout: float) -> None:
        """Until every service's container runs and is healthy; StackError naming the laggards (with
        the last lines of a container that exited) once `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.status()
            waiting = [s for s in states if not s.healthy]
            if not waiting:
                return
            dead = [s for s in waiting if s.state in ("exited", "dead")]
            if dead or time.monotonic() > deadline:
                shown = dead or waiting
                lines = [f"{s.service}: {s.state} {s.health}".rstrip() for s in shown]
                logs = self._logs(shown[0].service)
                raise StackError(
                    f"the compose stack is not healthy after {timeout:.0f}s: " + "; ".join(lines)
                    + (f"\nlast lines of {shown[0].service}:\n{logs}" if logs else "")
                )  # fmt: skip
            time.sleep(1.0)

    def containers(self) -> dict[str, Any]:
        """This project's containers by compose service (the engine's labels, not a name pattern)."""
        found = self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"})
        return {c.labels.get(SERVICE_LABEL, c.name): c for c in found}

    def status(self) -> list[ContainerStatus]:
        """Each compose service's container state and health (a missing container is `missing`)."""
        containers = self.containers()
        expected = list(compose.compose_document(self.topology)["services"])
        out: list[ContainerStatus] = []
        for name in expected:
            container = containers.get(name)
            if container is None:
                out.append(ContainerStatus(name, "missing", ""))
                continue
            state = container.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status", "")
            image = container.attrs.get("Config", {}).get("Image", "")
            out.append(ContainerStatus(name, str(state.get("Status", "")), str(health), str(image)))
        return out

    def _logs(self, service: str, lines: int = 15) -> str:
        container = self.containers().get(service)
        if container is None:
            return ""
        text: bytes = container.logs(tail=lines)
        return text.decode(errors="replace").rstrip()

    def down(self) -> None:
        """Remove the project's containers, network and volumes (its data is a test stack's)."""
        self.require_engine()
        argv = self.compose_argv("down", "--volumes", "--remove-orphans", "--timeout", "5")
        done = self._run(argv, env=self.secret_env(), capture=False, timeout=DOWN_TIMEOUT)
        if done.returncode != 0:
            raise StackError(f"`compose down` failed (exit {done.returncode})")

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes that carry this project's label (none after `down`)."""
        label = {"label": f"{PROJECT_LABEL}={self.project}"}
        return [
            *(f"container {c.name}" for c in self.client.containers.list(all=True, filters=label)),
            *(f"network {n.name}" for n in self.client.networks.list(filters=label)),
            *(f"volume {v.name}" for v in self.client.volumes.list(filters=label)),
        ]

    # -- the running stack, as the harness asks ----------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.topology.services[self.topology.gateway].port}"

    @property
    def proxy_api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.topology.proxy_port()}"

    def url_of(self, component: str) -> str:
        if component not in self.topology.services:
            raise ValueError(f"no service named {component!r}")
        return f"http://{LOOPBACK}:{self.topology.services[component].port}"

    def attach(self, *, timeout_s: float = 5.0) -> None:
        """Check the stack runs (every container healthy, the proxy and gateway answer) and learn the
        profile and switches its services were started with."""
        laggards = [f"{s.service} ({s.state} {s.health})".strip() for s in self.status() if not s.healthy]
        if laggards:
            raise StackError(
                f"the compose stack {self.project} is not up and healthy: {', '.join(laggards)}; "
                "start it with `chaosgate stack up --runtime compose`"
            )
        RemoteStack(self.topology, run_dir=self.run_dir).check(timeout_s=timeout_s)
        labels = self._labels(self.topology.gateway)
        self.profile = labels.get(compose.PROFILE_LABEL) or self.topology.profile
        self.switches = parse_switches([i for i in labels.get(compose.SWITCHES_LABEL, "").split(",") if i])

    def _labels(self, service: str) -> dict[str, str]:
        """The labels of a service's container (docker-compose.yml's, interpolated at `up`)."""
        container = self.containers().get(service)
        if container is None:
            return {}
        return dict(container.attrs.get("Config", {}).get("Labels") or {})

    def backends(self) -> dict[str, str]:
        """What stands in each role: the image behind each store's container, and the fault proxy's."""
        containers = self.containers()
        out: dict[str, str] = {}
        roles = {name: self.topology.role_of(name) for name in self.topology.stores}
        roles["toxiproxy"] = "toxiproxy"
        for name, role in roles.items():
            container = containers.get(name)
            image = container.attrs.get("Config", {}).get("Image", "?") if container is not None else "?"
            out[role] = f"image {image}"
            if image.startswith(f"{images.REPOSITORY}/"):
                out[role] = f"{self._local_backend(name)}, image {image} (local image set)"
        return out

    def _local_backend(self, name: str) -> str:
        if name == "toxiproxy":
            return "chaosgate proxy (Toxiproxy API)"
        store = self.topology.stores[name]
        upstream = compose.upstream_for(name, store)
        return images.local_store(store, upstream.port, upstream.data_dir).backend

    def process_ids(self) -> list[int] | None:
        return None  # its containers run under the Docker engine: not told apart from a neighbour

    def restart(self, services: list[str]) -> list[str]:
        """RunningStack.restart: a container is restarted by its `restart:` policy or by hand; the
        harness leaves them as they are."""
        return []

    def fault_environment(self) -> FaultEnvironment:
        """Injectors reach the published ports and this project's containers through the engine."""
        return FaultEnvironment(
            topology=self.topology,
            proxy_api_url=self.proxy_api_url,
            gateway_url=self.gateway_url,
            docker_host=self.environ.get("DOCKER_HOST") or None,
            runtime="compose",
        )


def project_beside(
    config: Path, folder: Path, *, name: str, port_offset: int, runtime: str = "compose"
) -> Path:
    """A copy of chaos.yaml's project in `folder`, with its own name, ports (moved by `port_offset`,
    Prometheus's too) and run dir, its generated files, and the target's source and scenarios linked
    in: to run a second stack beside one (tests, benches). Returns the new chaos.yaml."""
    import yaml

    from chaosgate.config import load_topology

    topology = load_topology(config).with_port_offset(port_offset)
    data = topology.portable_dump()
    data.update(name=name, runtime=runtime, run_dir=str(folder / "run"))
    prometheus = urlsplit(topology.probes.prometheus or "").port or compose.PROMETHEUS_PORT
    data["probes"]["prometheus"] = f"http://{LOOPBACK}:{prometheus + port_offset}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chaos.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    # The scenarios, and the folder of the image's Dockerfile (its build context's source).
    dockerfile = topology.compose.dockerfile if topology.compose is not None else None
    linked_names = {"scenarios", *([Path(dockerfile).parts[0]] if dockerfile else [])}
    for linked in sorted(linked_names):
        if not (folder / linked).exists() and (config.parent / linked).exists():
            (folder / linked).symlink_to((config.parent / linked).resolve())
    compose_files.write(load_topology(folder / "chaos.yaml"))
    return folder / "chaos.yaml"
