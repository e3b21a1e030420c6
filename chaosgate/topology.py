"""The topology in chaos.yaml as typed models, its loader, and the queries derived from it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from chaosgate.durations import Duration
from chaosgate.errors import Location, ValidationError
from chaosgate.yamlio import YamlDocument, load_yaml, validate

LOOPBACK = "127.0.0.1"
LINK_TEMPLATE = re.compile(r"\{link:([^}]*)\}")

Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Every topology model refuses keys it does not know, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreKind(StrEnum):
    """Which local backend stands behind a store."""

    REDIS = "redis"
    POSTGRES = "postgres"
    S3 = "s3"


class ProxySettings(Strict):
    api_port: Port


class Store(Strict):
    kind: StoreKind
    role: str
    port: Port
    database: str | None = None

    @model_validator(mode="after")
    def _database_matches_kind(self) -> Store:
        if self.kind is StoreKind.POSTGRES and not self.database:
            raise ValueError("a postgres store needs `database` (the database created at first start)")
        if self.kind is not StoreKind.POSTGRES and self.database:
            raise ValueError(f"a {self.kind.value} store takes no `database`")
        return self


class Link(Strict):
    listen: Port


class Service(Strict):
    port: Port
    links: list[str] = Field(default_factory=list)
    soft: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class ServiceDefaults(Strict):
    command: list[str] = Field(min_length=1)
    live: str = "/health/live"
    ready: str = "/health/ready"


class RequestProbeSpec(Strict):
    """A probe that one request describes: sent through the gateway, served when the status matches."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/")
    body: Any = None
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list)


class Feature(Strict):
    """A thing users do. `depends_on` are hard dependencies (expanded through the services' hard
    links); `soft` names components it should keep working without (perhaps degraded), even where
    a service's link would make them hard."""

    depends_on: list[str] = Field(min_length=1)
    soft: list[str] = Field(default_factory=list)
    probe: RequestProbeSpec | None = None  # else the probe plugin's flow for this feature


class WriterSpec(Strict):
    """A ledger writer (the probe plugin's, by name) and the features whose writes it checks: data
    loss is measured (not n/a) when a writer covers a feature the fault breaks."""

    covers: list[str] = Field(min_length=1)


class Calibration(Strict):
    """How capacity is measured: open-loop steps of offered load, each held `step` seconds."""

    steps: list[Annotated[float, Field(gt=0, le=20_000)]] = Field(
        default_factory=lambda: [20.0, 40.0, 60.0, 90.0, 120.0, 160.0, 200.0, 250.0], min_length=1
    )
    step: Duration = 4.0
    reuse: Duration = 6 * 3600.0  # a calibration of the same stack and profile younger than this is reused


class LoadSettings(Strict):
    """The steady load every window of every scenario runs under (ARCHITECTURE.md, rules v2)."""

    locustfile: str  # relative to chaos.yaml
    fraction: float = Field(0.5, gt=0, le=1.0)  # of the calibrated capacity
    users: int = Field(10, ge=1, le=1000)  # Locust users sharing the arrivals (each its own account)
    request_timeout: Duration = 10.0  # a load request is abandoned after this (bounds in-flight time)
    calibration: Calibration = Calibration()


class Weights(Strict):
    """Readiness = 100 x weighted mean of the five dimensions (ARCHITECTURE.md's product weights)."""

    isolation: float = Field(0.25, ge=0)
    cascade: float = Field(0.20, ge=0)
    data: float = Field(0.25, ge=0)
    fail_behaviour: float = Field(0.15, ge=0)
    recovery: float = Field(0.15, ge=0)


class Scoring(Strict):
    weights: Weights = Weights()
    fast_fail: float = Field(1.5, gt=0, le=60)  # a rejection slower than this (s) counts as an error


class GateSettings(Strict):
    """The release gate `chaosgate run` applies when no --min-score or --floor is given."""

    min_score: float | None = Field(None, ge=0, le=100)
    floors: list[str] = Field(default_factory=list)  # as --floor takes them, e.g. isolation=yes


class ProbeSettings(Strict):
    plugin: str | None = "secureconnect"  # entry point in `chaosgate.probes`; None: only declared probes
    interval: float = Field(0.5, gt=0, le=60)  # seconds between two samples of one probe
    timeout: float = Field(2.0, gt=0, le=60)  # no answer within this is a hang
    prometheus: str | None = None  # a Prometheus URL: its `queries` are sampled beside the probes
    queries: dict[str, str] = Field(default_factory=dict)  # name -> PromQL


class Remote(Strict):
    """A stack that runs elsewhere (another host, or a compose project behind an SSH tunnel): chaosgate
    starts nothing, drives the fault proxy there and probes the gateway there. The ports are the
    topology's own, answering on `host`; `proxy_api` and `gateway` override single URLs."""

    host: str  # a name or address; no scheme, no port
    proxy_api: str | None = None  # default http://<host>:<proxy.api_port>
    gateway: str | None = None  # default http://<host>:<the gateway service's port>
    docker_host: str | None = None  # the Docker engine for `docker` faults (else DOCKER_HOST)
    profile: str = Field("remote", pattern=r"^[A-Za-z0-9_.-]+$")  # what that stack runs, for reports

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*", value):
            raise ValueError(
                f"expected a host name or address without scheme or port (e.g. chaos-host), not {value!r}"
            )
        return value

    @field_validator("proxy_api", "gateway")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
        ):
            raise ValueError(
                f"expected a base URL http(s)://HOST[:PORT] (e.g. http://chaos-host:8474), not {value!r}"
            )
        return value.rstrip("/")

    @field_validator("docker_host")
    @classmethod
    def _docker_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("unix", "tcp", "ssh", "npipe"):
            raise ValueError(
                f"expected a unix://, tcp://, ssh:// or npipe:// URL, as DOCKER_HOST takes, not {value!r}"
            )
        return value


class Topology(Strict):
    """chaos.yaml: every port once, everything else by name."""

    runtime: Literal["local", "compose"] = "local"
    remote: Remote | None = None  # set: run against that stack instead of starting one here
    run_dir: str = ".chaosgate/run"
    proxy: ProxySettings
    stores: dict[str, Store] = Field(default_factory=dict)
    links: dict[str, Link] = Field(default_factory=dict)
    services: dict[str, Service]
    service_defaults: ServiceDefaults
    gateway: str
    features: dict[str, Feature] = Field(default_factory=dict)
    probes: ProbeSettings = ProbeSettings()
    scoring: Scoring = Scoring()
    writers: dict[str, WriterSpec] = Field(default_factory=dict)
    load: LoadSettings | None = None  # None: scenarios run without load (not recommended)
    profiles: list[str] = Field(default_factory=lambda: ["baseline", "hardened"], min_length=1)
    claims: str | None = None  # a file of a report's claims per scenario, relative to chaos.yaml
    gate: GateSettings = GateSettings()

    _source: Path = PrivateAttr(default=Path("chaos.yaml"))

    # -- where it came from -------------------------------------------------------------------------

    @property
    def source(self) -> Path:
        """The file this topology was loaded from (used to resolve relative paths)."""
        return self._source

    def portable_dump(self) -> dict[str, Any]:
        """The topology as JSON-ready data with its file paths (relative to chaos.yaml) made
        absolute, to be written as a chaos.yaml somewhere else."""
        data = self.model_dump(mode="json")
        folder = self.source.parent
        if data.get("load"):
            data["load"]["locustfile"] = str((folder / data["load"]["locustfile"]).resolve())
        if data.get("claims"):
            data["claims"] = str((folder / data["claims"]).resolve())
        return data

    def check_profile(self, profile: str) -> None:
        """`profile` must be one of the target's profiles (`profiles`), else a ValidationError."""
        if profile not in self.profiles:
            raise ValidationError(
                f"profile {profile!r} is not one of the target's profiles; valid: {', '.join(self.profiles)}",
                Location(self.source, 0, "profiles"),
            )

    def default_run_dir(self) -> Path:
        """`run_dir` relative to the config file's directory."""
        return (self._source.parent / self.run_dir).resolve()

    # -- names and ports ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """Where the stack's ports answer: the remote host, else loopback."""
        return LOOPBACK if self.remote is None else self.remote.host.strip("[]")

    def _http(self, port: int) -> str:
        return f"http://[{self.host}]:{port}" if ":" in self.host else f"http://{self.host}:{port}"

    def proxy_api_url(self) -> str:
        if self.remote is not None and self.remote.proxy_api:
            return self.remote.proxy_api
        return self._http(self.proxy.api_port)

    def service_url(self, name: str) -> str:
        """The base URL of service `name` (the gateway's may be overridden by `remote.gateway`)."""
        if name == self.gateway and self.remote is not None and self.remote.gateway:
            return self.remote.gateway
        return self._http(self.services[name].port)

    def component_port(self, name: str) -> int:
        """The port a store or service itself listens on (not its proxy)."""
        if name in self.stores:
            return self.stores[name].port
        if name in self.services:
            return self.services[name].port
        raise KeyError(f"no store or service named {name!r}")

    def link_address(self, name: str) -> str:
        """`127.0.0.1:<listen>` of the proxy named `name`."""
        return f"{LOOPBACK}:{self.links[name].listen}"

    def upstream_address(self, name: str) -> str:
        """`127.0.0.1:<port>` of the component a link leads to (the same name, by the naming rule)."""
        return f"{LOOPBACK}:{self.component_port(name)}"

    def ports(self) -> Iterator[tuple[int, str]]:
        """Every (port, owner) pair: the proxy API, each store, each link's listener, each service."""
        yield self.proxy.api_port, "proxy API"
        for name, store in self.stores.items():
            yield store.port, f"store {name}"
        for name, link in self.links.items():
            yield link.listen, f"proxy {name}"
        for name, service in self.services.items():
            yield service.port, f"service {name}"

    # -- derived queries --------------------------------------------------------------------------------

    def start_order(self) -> list[str]:
        """Services so that each comes after every service it links to."""
        return [name for level in self.start_levels() for name in level]

    def start_levels(self) -> list[list[str]]:
        """Services grouped into waves: a wave needs only stores and services of earlier waves."""
        remaining = dict.fromkeys(self.services)
        levels: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            wave = [
                name
                for name in remaining
                if all(dep in done for dep in self.services[name].links if dep in self.services)
            ]
            if not wave:  # _check_references rules cycles out; this guards direct construction
                raise ValueError(f"services link to each other in a cycle: {', '.join(remaining)}")
            levels.append(wave)
            done.update(wave)
            for name in wave:
                del remaining[name]
        return levels

    def service_env(self, name: str) -> dict[str, str]:
        """A service's `env` with every `{link:NAME}` replaced by that proxy's address."""
        return {
            key: LINK_TEMPLATE.sub(lambda m: self.link_address(m.group(1)), value)
            for key, value in self.services[name].env.items()
        }

    def service_command(self, name: str, *, python: str) -> list[str]:
        """The argv that starts service `name` (from `service_defaults.command`)."""
        return [
            part.replace("{python}", python).replace("{service}", name)
            for part in self.service_defaults.command
        ]

    def dependencies_of(self, component: str, *, skip: frozenset[str] = frozenset()) -> set[str]:
        """Everything `component` needs, transitively, through services' hard (non-soft) links,
        never entering the components in `skip`."""
        seen: set[str] = set()
        stack = [component]
        while stack:
            current = stack.pop()
            service = self.services.get(current)
            if service is None:
                continue
            for dep in service.links:
                if dep not in service.soft and dep not in seen and dep not in skip:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    def feature_dependencies(self, feature: str) -> set[str]:
        """The components a feature hard-depends on: its `depends_on` plus their transitive hard
        links, less what the feature names `soft`."""
        spec = self.features[feature]
        skip = frozenset(spec.soft)
        needs: set[str] = set()
        for component in spec.depends_on:
            needs.add(component)
            needs |= self.dependencies_of(component, skip=skip)
        return needs

    def feature_soft_dependencies(self, feature: str) -> set[str]:
        """Components the feature uses but should survive without: its own `soft` names and the
        soft links of the services it needs (and what those need), less its hard dependencies."""
        hard = self.feature_dependencies(feature)
        soft = set(self.features[feature].soft)
        for component in hard:
            service = self.services.get(component)
            if service is not None:
                soft |= set(service.soft)
        for component in list(soft):
            soft |= self.dependencies_of(component)
        return soft - hard

    def features_affected_by(self, component: str) -> list[str]:
        """Features that hard-depend (transitively) on `component`: the ones a fault on it breaks."""
        return [name for name in self.features if component in self.feature_dependencies(name)]

    def features_soft_on(self, component: str) -> list[str]:
        """Features that only soft-depend on `component`: they must survive a fault on it."""
        return [name for name in self.features if component in self.feature_soft_dependencies(name)]

    def proxies_config(self) -> list[dict[str, Any]]:
        """The proxies.json the fault proxy is started with: one enabled proxy per link."""
        return [
            {
                "name": name,
                "listen": self.link_address(name),
                "upstream": self.upstream_address(name),
                "enabled": True,
            }
            for name in self.links
        ]

    def with_port_offset(self, offset: int) -> Topology:
        """The same topology with every port moved by `offset` (to run a second stack beside one)."""
        data = self.model_dump()
        data["proxy"]["api_port"] += offset
        for section, key in (("stores", "port"), ("links", "listen"), ("services", "port")):
            for item in data[section].values():
                item[key] += offset
        moved = Topology.model_validate(data)
        moved._source = self._source
        return moved


def load_topology(path: Path | str) -> Topology:
    """Load chaos.yaml; every error is one ValidationError naming file, line and key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ValidationError("expected a mapping of settings at the top level", Location(doc.path, 1))
    topology = validate(doc, Topology)
    check_references(topology, doc)
    topology._source = Path(path).resolve()
    return topology


def check_references(topology: Topology, doc: YamlDocument) -> None:
    """Names must resolve and ports must be unique; errors point at the offending key."""
    _check_ports(topology, doc)
    components = {*topology.stores, *topology.services}
    overlap = set(topology.stores) & set(topology.services)
    for name in sorted(overlap):
        raise ValidationError(
            f"{name!r} is both a store and a service; names must be unique", doc.location("services", name)
        )
    for name in topology.links:
        if name not in components:
            raise ValidationError(
                f"link {name!r} has no store or service of the same name to lead to; "
                f"valid: {_names(components)}",
                doc.location("links", name),
            )
    for name, service in topology.services.items():
        for i, dep in enumerate(service.links):
            if dep not in topology.links:
                raise ValidationError(
                    f"{dep!r} names no link; valid: {_names(topology.links)}",
                    doc.location("services", name, "links", i),
                )
            if dep == name:
                raise ValidationError(
                    "a service cannot link to itself", doc.location("services", name, "links", i)
                )
        for i, dep in enumerate(service.soft):
            if dep not in service.links:
                raise ValidationError(
                    f"soft link {dep!r} is not one of this service's links; valid: {_names(service.links)}",
                    doc.location("services", name, "soft", i),
                )
        for key, value in service.env.items():
            for match in LINK_TEMPLATE.finditer(value):
                if match.group(1) not in service.links:
                    raise ValidationError(
                        f"{{link:{match.group(1)}}} names no link of service {name!r}; "
                        f"valid: {', '.join(f'{{link:{n}}}' for n in service.links) or 'none (add links)'}",
                        doc.location("services", name, "env", key),
                    )
    if topology.gateway not in topology.services:
        raise ValidationError(
            f"gateway {topology.gateway!r} is not a service; valid: {_names(topology.services)}",
            doc.location("gateway"),
        )
    for name, feature in topology.features.items():
        for key in ("depends_on", "soft"):
            for i, dep in enumerate(getattr(feature, key)):
                if dep not in components:
                    raise ValidationError(
                        f"{dep!r} is no store or service; valid: {_names(components)}",
                        doc.location("features", name, key, i),
                    )
    for name, writer in topology.writers.items():
        for i, feature_name in enumerate(writer.covers):
            if feature_name not in topology.features:
                raise ValidationError(
                    f"{feature_name!r} is no feature; valid: {_names(topology.features)}",
                    doc.location("writers", name, "covers", i),
                )
    try:
        topology.start_levels()
    except ValueError as exc:
        raise ValidationError(str(exc), doc.location("services")) from None


def _check_ports(topology: Topology, doc: YamlDocument) -> None:
    keys: dict[str, tuple[str, ...]] = {"proxy API": ("proxy", "api_port")}
    for name in topology.stores:
        keys[f"store {name}"] = ("stores", name, "port")
    for name in topology.links:
        keys[f"proxy {name}"] = ("links", name, "listen")
    for name in topology.services:
        keys[f"service {name}"] = ("services", name, "port")
    owners: dict[int, str] = {}
    for port, owner in topology.ports():
        if port in owners:
            first = doc.location(*keys[owners[port]])
            raise ValidationError(
                f"port {port} is already used by {owners[port]} (line {first.line}); "
                "every port must be written once",
                doc.location(*keys[owner]),
            )
        owners[port] = owner


def _names(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"
