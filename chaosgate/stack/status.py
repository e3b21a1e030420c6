"""What `chaosgate stack status` shows of a local stack: each component's process and health."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from chaosgate.stack.processes import ProcessKind
from chaosgate.stack.stores import StoreBackend, postgres_answers, redis_ping, s3_answers
from chaosgate.topology import StoreKind, Topology

PROXY = "proxy"


class ComponentStatus(BaseModel):
    name: str
    kind: ProcessKind
    backend: str = ""
    pid: int | None = None
    alive: bool = False
    healthy: bool = False
    url: str = ""
    detail: str = ""


class StackStatus(BaseModel):
    run_dir: str
    profile: str
    switches: dict[str, bool] = Field(default_factory=dict)
    up: bool  # `up` completed and every component is alive and healthy
    gateway_url: str
    proxy_api_url: str
    components: list[ComponentStatus]
    proxies: list[dict[str, Any]] = Field(default_factory=list)

    def component(self, name: str) -> ComponentStatus:
        return next(c for c in self.components if c.name == name)


def store_status(
    topology: Topology, name: str, backend: StoreBackend, *, pid: int | None, url: str
) -> ComponentStatus:
    store = topology.stores[name]
    port = topology.component_port(name)
    if store.kind is StoreKind.REDIS:
        healthy = redis_ping(port)
        detail = "PONG" if healthy else "no PONG"
    elif store.kind is StoreKind.S3:
        healthy = s3_answers(port)
        detail = "ListBuckets " + ("ok" if healthy else "failed")
    else:
        healthy = postgres_answers(port, store.database or "postgres")
        detail = f"SELECT 1 on {store.database}" + (" ok" if healthy else " failed")
    return ComponentStatus(
        name=name,
        kind=ProcessKind.STORE,
        backend=backend.backend(),
        pid=pid,
        alive=pid is not None,
        healthy=healthy,
        url=url,
        detail=detail,
    )


def proxy_status(
    topology: Topology, *, api_url: str, pid: int | None
) -> tuple[ComponentStatus, list[dict[str, Any]]]:
    proxies: list[dict[str, Any]] = []
    detail = ""
    try:
        response = httpx.get(f"{api_url}/proxies", timeout=2.0)
        response.raise_for_status()
        listed = response.json()
        proxies = sorted(listed.values(), key=lambda p: str(p.get("name")))
        missing = sorted(set(topology.links) - set(listed))
        healthy = not missing
        detail = f"{len(proxies)} proxies" + (f"; missing {', '.join(missing)}" if missing else "")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        healthy = False
        detail = f"API: {type(exc).__name__}"
    status = ComponentStatus(
        name=PROXY,
        kind=ProcessKind.PROXY,
        backend="chaosgate proxy (Toxiproxy API)",
        pid=pid,
        alive=pid is not None,
        healthy=healthy,
        url=api_url,
        detail=detail,
    )
    return status, proxies


def service_status(
    topology: Topology, name: str, client: httpx.Client, *, pid: int | None, base: str, python: str
) -> ComponentStatus:
    codes: list[str] = []
    healthy = True
    for probe in (topology.health_path(name), topology.service_defaults.ready):
        try:
            code = client.get(base + probe).status_code
            codes.append(f"{probe.rsplit('/', 1)[-1]} {code}")
            healthy = healthy and code == 200
        except httpx.HTTPError as exc:
            codes.append(f"{probe.rsplit('/', 1)[-1]} {type(exc).__name__}")
            healthy = False
    return ComponentStatus(
        name=name,
        kind=ProcessKind.SERVICE,
        backend=shlex.join(topology.service_command(name, python=Path(python).name)),
        pid=pid,
        alive=pid is not None,
        healthy=healthy,
        url=base,
        detail=", ".join(codes),
    )


def collect(
    topology: Topology,
    backends: Mapping[str, StoreBackend],
    *,
    services: Sequence[str],
    pid_of: Callable[[str], int | None],
    url_of: Callable[[str], str],
    api_url: str,
    python: str,
) -> tuple[list[ComponentStatus], list[dict[str, Any]]]:
    """Every component's status (stores, the proxy, then the services) and the proxies as listed."""
    components = [
        store_status(topology, name, backend, pid=pid_of(name), url=url_of(name))
        for name, backend in backends.items()
    ]
    proxy, proxies = proxy_status(topology, api_url=api_url, pid=pid_of(PROXY))
    components.append(proxy)
    with httpx.Client(timeout=2.0) as client:
        for name in services:
            components.append(
                service_status(topology, name, client, pid=pid_of(name), base=url_of(name), python=python)
            )
    return components, proxies
