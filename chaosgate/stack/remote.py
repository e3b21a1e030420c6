"""RemoteStack: a stack this process neither starts nor stops: chaos.yaml's `remote:` (another host,
or an SSH tunnel to one) or a compose project already up on this machine.

It answers the questions the harness asks of a stack (where the fault proxy's API, the gateway and
each service answer; which profile runs there) and keeps the fault ledger in a local run dir, so
rollback, the watchdog and the next run's sweep work as on the local runtime.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from chaosgate.errors import StackError
from chaosgate.injection import FaultEnvironment
from chaosgate.topology import Topology
from chaosgate.yamlio import load_yaml


def attaches(topology: Topology) -> bool:
    """Whether runs attach to a stack running elsewhere instead of starting the local runtime."""
    return topology.remote is not None or topology.runtime == "compose"


class RemoteStack:
    """The endpoints of a running stack, checked before use; nothing here starts or stops it."""

    def __init__(self, topology: Topology, *, run_dir: Path | str | None = None, profile: str | None = None):
        self.topology = topology
        self.run_dir = Path(run_dir if run_dir is not None else topology.default_run_dir()).resolve()
        remote = topology.remote
        self.profile = profile or (remote.profile if remote is not None else "compose")
        self.docker_host = remote.docker_host if remote is not None else None
        self.services = topology.start_order()
        self.switches: dict[str, bool] = {}  # set where the stack runs; unknown here

    @property
    def proxy_api_url(self) -> str:
        return self.topology.proxy_api_url()

    @property
    def gateway_url(self) -> str:
        return self.topology.service_url(self.topology.gateway)

    def url_of(self, component: str) -> str:
        """A service's base URL (stores are reached only through the stack's own services)."""
        if component not in self.topology.services:
            raise ValueError(f"no service named {component!r}")
        return self.topology.service_url(component)

    def backends(self) -> dict[str, str]:
        """Each store's role, named only: what stands there is that stack's business."""
        out: dict[str, str] = {}
        for name, store in self.topology.stores.items():
            role = self.topology.role_of(name)
            where = self.topology.host if store.port is None else f"{self.topology.host}:{store.port}"
            out[role] = f"{role} at {where} (not started by chaosgate)"
        return out

    def process_ids(self) -> list[int] | None:
        return None  # it runs elsewhere, or was started by someone else

    def restart(self, services: list[str]) -> list[str]:
        """RunningStack.restart: a stack on another host is not the harness's to restart."""
        return []

    def fault_environment(self) -> FaultEnvironment:
        """Injectors reach this stack's addresses (and its Docker engine); no process is ours to signal."""
        return FaultEnvironment(
            topology=self.topology,
            proxy_api_url=self.proxy_api_url,
            gateway_url=self.gateway_url,
            docker_host=self.docker_host,
            runtime="remote" if self.topology.remote is not None else "compose",
        )

    def check(self, *, timeout_s: float = 5.0) -> None:
        """Raise StackError naming the URL and the chaos.yaml key unless the fault proxy's API and the
        gateway both answer."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        live = self.topology.health_path(self.topology.gateway)
        targets = (
            ("the fault proxy's API", f"{self.proxy_api_url}/version", "proxy_api"),
            ("the gateway", f"{self.gateway_url}{live}", "gateway"),
        )
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            for what, url, key in targets:
                try:
                    answer = client.get(url)
                except httpx.HTTPError as exc:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    where = self._where(key)
                    raise StackError(f"{where}: {what} at {url} does not answer ({reason})") from None
                if answer.status_code >= 500:
                    raise StackError(f"{self._where(key)}: {what} at {url} answers {answer.status_code}")

    def _where(self, key: str) -> str:
        """The chaos.yaml key that set this URL (`remote.<key>`, else `remote.host`), with its line."""
        remote = self.topology.remote
        if remote is None:
            return f"the compose stack on {self.topology.host}"
        chosen = key if getattr(remote, key) else "host"
        source = self.topology.source
        if not source.exists():
            return f"remote.{chosen}"
        return str(load_yaml(source).location("remote", chosen))
