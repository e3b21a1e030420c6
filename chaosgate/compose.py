"""The compose runtime's files (docker-compose.yml, deploy/toxiproxy.json, deploy/prometheus.yml) as
data, from the topology in chaos.yaml (chaosgate.stack.compose_files writes them and checks that the
committed ones are current).

The topology stays the single source: compose services, Toxiproxy proxy names and ports all come from
it, so adding a service to chaos.yaml and running `chaosgate stack compose-file` is all it takes.

Mapping (compose network, container to container):
- a store becomes the upstream image of its `role` (UPSTREAMS), listening on the image's own port,
  published on the host at the store's `port` from chaos.yaml;
- a link becomes a Toxiproxy proxy of the same name, listening on its `listen` port inside the
  `toxiproxy` container, reachable as `<link>-proxy` (a network alias), published on the host too;
- a service becomes chaos.yaml's `compose.command` (else `service_defaults.command`) in the one image
  `compose.image` (built from `compose.dockerfile` when given), with the launcher's environment and
  its chaos.yaml env (service_defaults.env, its own, compose.upstream_env), each `{link:X}` pointing at
  `X-proxy:<listen>` (every link goes through Toxiproxy in compose too), and store-specific rewrites
  (CockroachDB's DSN) done by the store's upstream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from chaosgate.errors import Location, ValidationError
from chaosgate.service_env import ServiceContext, render, templates
from chaosgate.topology import LINK_TEMPLATE, ComposeSettings, Store, Topology

COMPOSE_FILE = "docker-compose.yml"
TOXIPROXY_FILE = "deploy/toxiproxy.json"
PROMETHEUS_FILE = "deploy/prometheus.yml"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.9.0"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
PROMETHEUS_PORT = 9090
HEADER = (
    "# Generated from {source} by `chaosgate stack compose-file`: do not edit by hand.\n"
    "# Change chaos.yaml and run it again; `chaosgate stack compose-file --check` (and the tests) tell\n"
    "# when this file is out of date.\n"
)
# What the runtime fills into chaos.yaml's service env ({profile}, {switches}, {secret:NAME}) comes, in
# compose, from the environment of `docker compose` (the compose runtime sets these variables). A secret
# has no default: a default in a published file is a secret everyone knows (anyone who can reach the
# stack could sign tokens with it). `chaosgate stack up --runtime compose` makes one per stack; a bare
# `docker compose up` stops with the message below until one is set.
PROFILE_VAR = "CHAOSGATE_PROFILE"
SWITCHES_VAR = "CHAOSGATE_SWITCHES"
PROFILE_LABEL = "chaosgate.profile"  # on every service container: what it was started with
SWITCHES_LABEL = "chaosgate.switches"


def secret_var(name: str) -> str:
    """The variable of `docker compose` that carries the stack's secret `name` ({secret:NAME})."""
    return f"CHAOSGATE_SECRET_{name.upper()}"


# Published ports bind to loopback unless the host that runs compose says otherwise, e.g.
# `CHAOSGATE_BIND=0.0.0.0 docker compose up` on a machine that chaos.yaml's `remote:` points at.
BIND = "${CHAOSGATE_BIND:-127.0.0.1}"
_URL_ON_LINK = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/]*@)?\{link:(?P<link>[^}]+)\}(?P<path>/[^?]*)?"
)

LinkEnv = Callable[[str, str, Store], str]  # (value on the link, proxy address, store) -> the value


class ComposeError(ValueError):
    """The topology holds something the compose runtime has no upstream image for."""


def _proxied(template: str, address: str, store: Store) -> str:
    """The default: the link's address is the proxy's (host alias and listen port), filled in later."""
    return template


def _cockroach_dsn(template: str, address: str, store: Store) -> str:
    """CockroachDB runs the same SQL, but insecure mode knows only `root` and speaks no TLS."""
    match = _URL_ON_LINK.match(template)
    if match is None or not match.group("scheme").startswith("postgres"):
        return template
    database = (match.group("path") or "").strip("/") or store.database or "defaultdb"
    return f"postgresql://root@{address}/{database}?sslmode=disable"


@dataclass(frozen=True)
class Upstream:
    """The upstream image that plays a store's role in compose."""

    image: str
    port: int  # the port the image listens on inside the compose network
    healthcheck: list[str]
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    start_period: str = "30s"
    link_env: LinkEnv = _proxied
    # Where the image keeps its data: a named volume of the store's own (`<store>-data`), in memory and
    # bounded (tmpfs of `volume_size`), so a `disk` fault fills that volume and never the host's disk.
    data_dir: str = "/data"
    volume_size: str = "256m"


def _upstreams() -> dict[str, Upstream]:
    """Upstream images by store role (and object-store aliases); a function so nothing is shared state."""
    minio = Upstream(
        image="minio/minio:RELEASE.2024-06-13T22-53-53Z",
        port=9000,
        command=["server", "/data"],  # its credentials: chaos.yaml's compose.store_env
        healthcheck=["CMD", "mc", "ready", "local"],
        data_dir="/data",
    )
    return {
        "redis": Upstream(
            image="redis:7.2", port=6379, healthcheck=["CMD", "redis-cli", "ping"], volume_size="64m"
        ),
        "cockroachdb": Upstream(
            image="cockroachdb/cockroach:v24.1.0",
            port=26257,
            command=["start-single-node", "--insecure"],
            environment={},  # the database is set per store (COCKROACH_DATABASE), below
            healthcheck=["CMD", "/cockroach/cockroach", "sql", "--insecure", "-e", "SELECT 1"],
            link_env=_cockroach_dsn,
            data_dir="/cockroach/cockroach-data",
            volume_size="512m",
        ),
        "cassandra": Upstream(
            image="cassandra:4.1",
            port=9042,
            # A small heap: one node for a test stack, not a production cluster.
            environment={"MAX_HEAP_SIZE": "512M", "HEAP_NEWSIZE": "128M", "CASSANDRA_DC": "datacenter1"},
            healthcheck=["CMD", "cqlsh", "-e", "DESCRIBE KEYSPACES"],
            start_period="120s",
            data_dir="/var/lib/cassandra",
            volume_size="1g",
        ),
        "minio": minio,
        "s3": minio,
        "object-store": minio,
        "object_store": minio,
    }


def upstream_for(name: str, store: Store) -> Upstream:
    """The upstream of a store, by its role (default its name), then its kind; ComposeError names the
    valid roles."""
    upstreams = _upstreams()
    role = store.role or name
    for key in (role, str(store.kind.value)):
        if key in upstreams:
            return upstreams[key]
    raise ComposeError(
        f"store {name!r} has role {role!r}, which has no upstream image for the compose runtime; "
        f"known roles: {', '.join(sorted(upstreams))} (add one in chaosgate/compose.py)"
    )


def project_name(topology: Topology) -> str:
    """The compose project: chaos.yaml's `name` (containers are `<name>-<service>-1`)."""
    if topology.name is None:
        raise ValidationError(
            "the compose runtime names its project after the system: add a top-level `name:` "
            "(lower-case letters, digits, - and _)",
            Location(topology.source, 0, "name"),
        )
    return topology.name


def compose_settings(topology: Topology) -> ComposeSettings:
    """chaos.yaml's `compose:` section, which the compose runtime cannot do without."""
    if topology.compose is None:
        raise ValidationError(
            "the compose runtime needs a `compose:` section naming the services' image "
            "(compose.image; compose.dockerfile to build it)",
            Location(topology.source, 0, "compose"),
        )
    return topology.compose


def proxy_alias(link: str) -> str:
    """The compose host name of a link's proxy (a network alias of the toxiproxy container)."""
    return f"{link}-proxy"


def proxy_address(topology: Topology, link: str) -> str:
    return f"{proxy_alias(link)}:{topology.links[link].listen}"


def container_port(topology: Topology, component: str) -> int:
    """The port a component listens on inside the compose network."""
    if component in topology.stores:
        return upstream_for(component, topology.stores[component]).port
    return topology.services[component].port


# -- the three files ----------------------------------------------------------------------------------


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    """Toxiproxy's `-config` file: one enabled proxy per link, on every interface of its container."""
    return [
        {
            "name": name,
            "listen": f"0.0.0.0:{link.listen}",
            "upstream": f"{name}:{container_port(topology, name)}",
            "enabled": True,
        }
        for name, link in topology.links.items()
    ]


def prometheus_config(topology: Topology) -> dict[str, Any]:
    """Scrape every service's /metrics directly (not through a proxy, so faults do not blind it)."""
    return {
        "global": {"scrape_interval": "5s", "scrape_timeout": "4s"},
        "scrape_configs": [
            {
                "job_name": topology.name or "services",
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [f"{name}:{service.port}"], "labels": {"service": name}}
                    for name, service in topology.services.items()
                ],
            },
            {
                "job_name": "toxiproxy",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"toxiproxy:{topology.proxy_port()}"]}],
            },
        ],
    }


def service_environment(topology: Topology, name: str, *, upstream: bool = True) -> dict[str, str]:
    """The environment of service `name` in compose: chaos.yaml's service env (service_defaults.env, its
    own, then compose.upstream_env), filled in for the compose network, each value on a store's link
    rewritten the way that store's upstream image needs (CockroachDB's DSN). `upstream=False`: as the
    local image set runs it (the local runtime's store servers: no upstream_env, no rewrite)."""
    service = topology.services[name]
    settings = compose_settings(topology)
    context = ServiceContext(
        service=name,
        host="0.0.0.0",  # reachable from the toxiproxy container, not only from itself
        port=service.port,
        profile=f"${{{PROFILE_VAR}:-{topology.profile}}}",
        switches=f"${{{SWITCHES_VAR}:-}}",
        run_dir=settings.run_dir,
        secret=lambda secret: (
            f"${{{secret_var(secret)}:?set {secret_var(secret)} to 32+ random bytes "
            "(openssl rand -hex 32) or use chaosgate stack up}"
        ),
        link=lambda link: proxy_address(topology, link),
    )
    env: dict[str, str] = {}
    for key, template in service_environment_templates(topology, name, upstream=upstream).items():
        links = LINK_TEMPLATE.findall(template)
        store = topology.stores.get(links[0]) if len(links) == 1 else None
        if store is not None and upstream:
            address = proxy_address(topology, links[0])
            template = upstream_for(links[0], store).link_env(template, address, store)
        env[key] = render(template, context)
    return env


def service_environment_templates(topology: Topology, name: str, *, upstream: bool = True) -> dict[str, str]:
    """A service's env in compose before filling in: service_defaults.env, its own, compose.upstream_env."""
    extra = topology.compose.upstream_env.get(name, {}) if topology.compose is not None and upstream else {}
    return templates(topology.service_defaults.env, {**topology.services[name].env, **extra})


def service_labels(topology: Topology) -> dict[str, str]:
    """What a service container was started with, for the compose runtime to read back."""
    return {
        PROFILE_LABEL: f"${{{PROFILE_VAR}:-{topology.profile}}}",
        SWITCHES_LABEL: f"${{{SWITCHES_VAR}:-}}",
    }


def _healthcheck(test: list[str], *, start_period: str = "10s") -> dict[str, Any]:
    return {"test": test, "interval": "5s", "timeout": "4s", "retries": 30, "start_period": start_period}


def _store_services(topology: Topology) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, store in topology.stores.items():
        upstream = upstream_for(name, store)
        spec: dict[str, Any] = {"image": upstream.image}
        if upstream.command:
            spec["command"] = list(upstream.command)
        environment = dict(upstream.environment)
        if topology.compose is not None:
            environment.update(topology.compose.store_env.get(name, {}))
        if upstream.link_env is _cockroach_dsn and store.database:
            environment["COCKROACH_DATABASE"] = store.database
        if environment:
            spec["environment"] = environment
        if store.port is not None:  # else reached only inside the compose network
            spec["ports"] = [f"{BIND}:{store.port}:{upstream.port}"]
        spec["volumes"] = [f"{volume_name(name)}:{upstream.data_dir}"]
        spec["healthcheck"] = _healthcheck(upstream.healthcheck, start_period=upstream.start_period)
        out[name] = spec
    return out


def volume_name(store: str) -> str:
    """The named volume that holds a store's data (what a `disk` fault fills)."""
    return f"{store}-data"


def _volumes(topology: Topology) -> dict[str, Any]:
    """One bounded in-memory volume per store: a test stack's data, and a disk that can be filled."""
    return {
        volume_name(name): {
            "driver_opts": {
                "type": "tmpfs",
                "device": "tmpfs",
                "o": f"size={upstream_for(name, store).volume_size}",
            }
        }
        for name, store in topology.stores.items()
    }


def _toxiproxy_service(topology: Topology) -> dict[str, Any]:
    api = topology.proxy_port()
    return {
        "image": TOXIPROXY_IMAGE,
        # -proxy-metrics: its per-proxy byte counters on /metrics, which Prometheus scrapes.
        "command": ["-host=0.0.0.0", f"-port={api}", "-config=/config/toxiproxy.json", "-proxy-metrics"],
        "volumes": [f"./{TOXIPROXY_FILE}:/config/toxiproxy.json:ro"],
        "ports": [f"{BIND}:{api}:{api}"]
        + [f"{BIND}:{link.listen}:{link.listen}" for link in topology.links.values()],
        "networks": {"default": {"aliases": [proxy_alias(name) for name in topology.links]}},
    }


def _target_service(topology: Topology, name: str) -> dict[str, Any]:
    service = topology.services[name]
    depends: dict[str, Any] = {"toxiproxy": {"condition": "service_started"}}
    for dep in service.links:
        # Stores and linked services must be healthy first: Cassandra alone takes a minute to start.
        depends[dep] = {"condition": "service_healthy"}
    live = f"http://127.0.0.1:{service.port}{topology.health_path(name)}"
    settings = compose_settings(topology)
    spec: dict[str, Any] = {"image": settings.image}
    if settings.dockerfile is not None:
        spec["build"] = {"context": ".", "dockerfile": settings.dockerfile}
    if settings.command is not None:
        spec["command"] = [part.replace("{service}", name) for part in settings.command]
    elif topology.service_defaults.command is not None:
        spec["command"] = topology.service_command(name, python="python")
    else:
        raise ValidationError(
            "give the services' container command (compose.command)", Location(topology.source, 0, "compose")
        )
    return {
        **spec,
        "environment": service_environment(topology, name),
        "labels": service_labels(topology),
        "ports": [f"{BIND}:{service.port}:{service.port}"],
        "depends_on": depends,
        "healthcheck": _healthcheck(
            ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen({live!r}, timeout=3)"]
        ),
    }


def compose_document(topology: Topology) -> dict[str, Any]:
    """docker-compose.yml as data."""
    services: dict[str, Any] = {}
    services.update(_store_services(topology))
    services["toxiproxy"] = _toxiproxy_service(topology)
    for name in topology.start_order():
        services[name] = _target_service(topology, name)
    port = urlsplit(topology.probes.prometheus or "").port or PROMETHEUS_PORT
    services["prometheus"] = {
        "image": PROMETHEUS_IMAGE,
        "command": ["--config.file=/etc/prometheus/prometheus.yml"],
        "volumes": [f"./{PROMETHEUS_FILE}:/etc/prometheus/prometheus.yml:ro"],
        "ports": [f"{BIND}:{port}:9090"],
        "depends_on": {name: {"condition": "service_started"} for name in topology.services},
    }
    clash = set(services) & {"toxiproxy", "prometheus"} & {*topology.stores, *topology.services}
    if clash:
        raise ComposeError(f"{', '.join(sorted(clash))}: names the compose runtime keeps for itself")
    for spec in services.values():
        # An init as PID 1 forwards SIGTERM (a Python PID 1 ignores it, and `down` would wait 10 s each).
        spec["init"] = True
    return {"services": services, "volumes": _volumes(topology)}


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
