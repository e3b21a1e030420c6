"""ComposeStack: the compose runtime's up, status and down, by driving the `docker compose` CLI."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chaosgate import compose
from chaosgate.errors import StackError
from chaosgate.stack.launcher import format_switches
from chaosgate.topology import LOOPBACK, Topology

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
ENGINE_TIMEOUT = 15.0  # `docker info` against a dead socket fails fast; a hung engine must not hang us


class NoDockerEngine(StackError):
    """`docker info` failed: there is no engine to run the compose stack on."""


@dataclass(frozen=True)
class ContainerStatus:
    service: str
    state: str  # running, exited, ... ("missing" when compose knows no container for it)
    health: str  # healthy, unhealthy, starting, or "" when the image has no healthcheck

    @property
    def healthy(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


class ComposeStack:
    """One compose project: the generated docker-compose.yml next to chaos.yaml."""

    def __init__(
        self,
        topology: Topology,
        *,
        docker: str = "docker",
        environ: Mapping[str, str] | None = None,
        runner: Runner = subprocess.run,
    ) -> None:
        self.topology = topology
        self.project_dir = topology.source.parent
        self.compose_file = self.project_dir / compose.COMPOSE_FILE
        self.docker = docker
        self.environ = dict(os.environ if environ is None else environ)
        self._runner = runner

    # -- the docker CLI -----------------------------------------------------------------------------

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
            raise NoDockerEngine(
                f"the docker CLI ({self.docker}) is not on PATH; the compose runtime needs it"
            ) from None
        except subprocess.TimeoutExpired:
            raise StackError(f"`{shlex.join(argv)}` gave no answer within {timeout:.0f}s") from None

    def require_engine(self) -> None:
        """Raise NoDockerEngine (one line) unless `docker info` reaches an engine."""
        try:
            done = self._run([self.docker, "info", "--format", "{{.ServerVersion}}"], timeout=ENGINE_TIMEOUT)
        except NoDockerEngine:
            raise
        except StackError:
            done = None
        if done is None or done.returncode != 0:
            host = self.environ.get("DOCKER_HOST") or "(unset: the default socket)"
            raise NoDockerEngine(
                f"no Docker engine is reachable (is the docker daemon running? DOCKER_HOST={host})"
            )
        plugin = self._run([self.docker, "compose", "version"], timeout=ENGINE_TIMEOUT)
        if plugin.returncode != 0:
            raise StackError("the docker compose plugin is not installed (`docker compose version` failed)")

    def require_current_files(self) -> None:
        """Refuse to start from a docker-compose.yml that no longer matches chaos.yaml."""
        stale = compose.check(self.topology)
        if stale:
            names = ", ".join(p.split(" ", 1)[0].removeprefix("--- ") for p in stale)
            raise StackError(
                f"the compose files are out of date with {self.topology.source.name} ({names}); "
                "run `chaosgate stack compose-file` to regenerate them"
            )

    def compose_argv(self, *args: str) -> list[str]:
        return [
            self.docker, "compose",
            "--project-name", compose.PROJECT,
            "--project-directory", str(self.project_dir),
            "-f", str(self.compose_file),
            *args,
        ]  # fmt: skip

    # -- up, status, down ------------------------------------------------------------------------------

    def up(
        self,
        *,
        profile: str,
        switches: Mapping[str, bool],
        jwt_secret: str | None = None,
        timeout: float = 300,
    ) -> None:
        """Build the image, start every container and wait until all are healthy (`--wait`)."""
        self.require_engine()
        self.require_current_files()
        env = {"SC_PROFILE": profile, "SC_SWITCHES": format_switches(switches)}
        if jwt_secret:
            env["SC_JWT_SECRET"] = jwt_secret
        argv = self.compose_argv("up", "--detach", "--build", "--wait", "--wait-timeout", str(int(timeout)))
        # Output goes straight to the terminal: image pulls and builds take minutes and show progress.
        done = self._run(argv, env=env, capture=False)
        if done.returncode != 0:
            raise StackError(
                f"`docker compose up` failed (exit {done.returncode}); see its output above, and "
                f"`{shlex.join(self.compose_argv('logs', '--tail', '50'))}`"
            )

    def status(self) -> list[ContainerStatus]:
        """Each compose service's container state and health (a missing container is `missing`)."""
        self.require_engine()
        done = self._run(self.compose_argv("ps", "--all", "--format", "json"), timeout=60)
        if done.returncode != 0:
            raise StackError(f"`docker compose ps` failed: {done.stderr.strip()[:300]}")
        seen = {c.service: c for c in parse_ps(done.stdout)}
        expected = list(compose.compose_document(self.topology)["services"])
        return [seen.get(name, ContainerStatus(name, "missing", "")) for name in expected]

    def down(self) -> None:
        self.require_engine()
        done = self._run(self.compose_argv("down", "--remove-orphans"), capture=False)
        if done.returncode != 0:
            raise StackError(f"`docker compose down` failed (exit {done.returncode})")

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.topology.services[self.topology.gateway].port}"

    @property
    def proxy_api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.topology.proxy.api_port}"


def parse_ps(output: str) -> list[ContainerStatus]:
    """`docker compose ps --format json` prints one JSON array (older) or one object per line (newer)."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        ContainerStatus(str(item.get("Service", "")), str(item.get("State", "")), str(item.get("Health", "")))
        for item in items
    ]
