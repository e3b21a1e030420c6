"""The topology in chaos.yaml as typed models and the queries derived from it (chaosgate.config loads
and checks it)."""

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
from chaosgate.probes.steps import (
    LoadRequest,
    ProbeSteps,
    ReadBack,
    RequestStep,
    WriteRequest,
)
from chaosgate.yamlio import dotted, load_yaml

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
    """A data store the services use. `port` is where the local runtime starts it (and where compose
    publishes it on the host); a stack chaosgate does not start needs none."""

    kind: StoreKind
    role: str | None = None  # what it plays (reports, the compose image); default: the store's name
    port: Port | None = None
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
    """A service: `links` are its wiring (one proxy each). For scoring, a feature passing through it
    inherits `needs` as hard dependencies and `soft` as soft ones; a link in neither is needed only by
    the routes whose features name it (rules v3: features name what they really need). Without
    `needs`, every link not `soft` is inherited as hard."""

    port: Port
    links: list[str] = Field(default_factory=list)
    soft: list[str] = Field(default_factory=list)
    needs: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    health: str | None = Field(None, pattern=r"^/")  # its liveness path; default service_defaults.live

    def inherited_needs(self) -> list[str]:
        """The links a feature passing through this service inherits as hard dependencies."""
        if self.needs is not None:
            return list(self.needs)
        return [link for link in self.links if link not in self.soft]


class ServiceDefaults(Strict):
    # How the local runtime starts each service ({python}, {service}); a stack chaosgate does not
    # start needs none.
    command: list[str] | None = Field(None, min_length=1)
    live: str = "/health/live"
    ready: str = "/health/ready"
    # What every service is handed, under the target's own names, with chaosgate's placeholders
    # ({service}, {port}, {profile}, {secret:NAME}, ...: chaosgate/service_env.py); a service's `env` wins.
    env: dict[str, str] = Field(default_factory=dict)


class Feature(Strict):
    """A thing users do. `depends_on` are hard dependencies (expanded through the services' hard
    links); `soft` names components it should keep working without (perhaps degraded), even where
    a service's link would make them hard."""

    depends_on: list[str] = Field(min_length=1)
    soft: list[str] = Field(default_factory=list)
    # One request or a list of steps (chaosgate/probes/steps.py); None: the probe plugin's flow.
    probe: ProbeSteps | None = None


class WriterSpec(Strict):
    """A ledger writer and the features whose writes it checks: data loss is measured (not n/a) when
    a writer covers a feature the fault breaks. Declared with `write` and `read_back`, else the probe
    plugin's writer of this name."""

    covers: list[str] = Field(min_length=1)
    write: WriteRequest | None = None
    read_back: ReadBack | None = None
    ephemeral: bool = False  # sessions, presence: counted apart from durable data


class Calibration(Strict):
    """How capacity is measured: open-loop steps of offered load, each held `step` seconds."""

    steps: list[Annotated[float, Field(gt=0, le=20_000)]] = Field(
        default_factory=lambda: [20.0, 40.0, 60.0, 90.0, 120.0, 160.0, 200.0, 250.0], min_length=1
    )
    step: Duration = 4.0
    reuse: Duration = 6 * 3600.0  # a calibration of the same stack and profile younger than this is reused


class LoadSettings(Strict):
    """The steady load every window of every scenario runs under (ARCHITECTURE.md, rules v2): a
    locustfile of the target's own, or `requests` declared here (run by chaosgate's generic one)."""

    locustfile: str | None = None  # relative to chaos.yaml
    requests: list[LoadRequest] = Field(default_factory=list, max_length=100)  # weighted
    setup: list[RequestStep] = Field(default_factory=list, max_length=20)  # once per Locust user
    fraction: float = Field(0.5, gt=0, le=1.0)  # of the calibrated capacity
    users: int = Field(10, ge=1, le=1000)  # Locust users sharing the arrivals (each its own account)
    request_timeout: Duration = 10.0  # a load request is abandoned after this (bounds in-flight time)
    calibration: Calibration = Calibration()

    @model_validator(mode="after")
    def _one_definition(self) -> LoadSettings:
        if (self.locustfile is None) == (not self.requests):
            raise ValueError("load takes `locustfile:` or `requests:` (weighted request steps), exactly one")
        if self.setup and not self.requests:
            raise ValueError("load.setup goes with load.requests (a locustfile sets its users up itself)")
        return self


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


class ComposeSettings(Strict):
    """How `chaosgate stack compose-file` runs the services in compose: one image for all of them."""

    image: str = Field(min_length=1)
    dockerfile: str | None = None  # build `image` from this (relative to chaos.yaml); None: pull it
    # Each service's container command ({service}); default: service_defaults.command, {python} = python.
    command: list[str] | None = Field(None, min_length=1)
    run_dir: str = Field("/tmp/chaosgate", pattern=r"^/")  # the services' run dir inside their containers
    store_env: dict[str, dict[str, str]] = Field(default_factory=dict)  # a store's container, added env
    # A service's env added where the stores are the upstream images (a real Cassandra, say), not the
    # local runtime's servers (the local image set leaves it out).
    upstream_env: dict[str, dict[str, str]] = Field(default_factory=dict)


class SwitchMap(Strict):
    """Which of the target's hardening switches act on a fault, for `compare --profiles` where a
    scenario lists none in `exercises`: those of its injector, else of the component it breaks (its
    store, proxy or service, else the scenario's target; a store also by its role), else `default`."""

    injectors: dict[str, list[str]] = Field(default_factory=dict)
    components: dict[str, list[str]] = Field(default_factory=dict)
    default: list[str] = Field(default_factory=list)


class ProbeSettings(Strict):
    plugin: str | None = None  # entry point in `chaosgate.probes`; None: only declared probes
    # A 2xx carrying this header is degraded (served from a fallback); None: no answer is degraded.
    degraded_header: str | None = Field(None, min_length=1, max_length=128)
    setup: list[RequestStep] = Field(default_factory=list, max_length=20)  # once, before the steady window
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

    # The system's name: the compose project (containers <name>-<service>-1) and its Prometheus job.
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)
    runtime: Literal["local", "compose"] = "local"
    remote: Remote | None = None  # set: run against that stack instead of starting one here
    run_dir: str = ".chaosgate/run"
    proxy: ProxySettings | None = None  # required where chaosgate starts the fault proxy (local runtime)
    stores: dict[str, Store] = Field(default_factory=dict)
    links: dict[str, Link] = Field(default_factory=dict)
    services: dict[str, Service]
    service_defaults: ServiceDefaults = ServiceDefaults()
    compose: ComposeSettings | None = None  # the compose runtime's service image
    gateway: str
    features: dict[str, Feature] = Field(default_factory=dict)
    probes: ProbeSettings = ProbeSettings()
    scoring: Scoring = Scoring()
    writers: dict[str, WriterSpec] = Field(default_factory=dict)
    load: LoadSettings | None = None  # None: scenarios run without load (not recommended)
    # The target's hardening profiles (a run's --profile); `default_profile` (else the first) unless asked.
    profiles: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    default_profile: str | None = None
    claims: str | None = None  # a file of a report's claims per scenario, relative to chaos.yaml
    gate: GateSettings = GateSettings()
    switches: SwitchMap = SwitchMap()

    _source: Path = PrivateAttr(default=Path("chaos.yaml"))

    # -- where it came from -------------------------------------------------------------------------

    @property
    def source(self) -> Path:
        """The file this topology was loaded from (used to resolve relative paths)."""
        return self._source

    def portable_dump(self) -> dict[str, Any]:
        """The topology as JSON-ready data with its file paths (relative to chaos.yaml) made
        absolute, to be written as a chaos.yaml somewhere else."""
        data = self.model_dump(mode="json", by_alias=True)
        folder = self.source.parent
        if data.get("load") and data["load"].get("locustfile"):
            data["load"]["locustfile"] = str((folder / data["load"]["locustfile"]).resolve())
        if data.get("claims"):
            data["claims"] = str((folder / data["claims"]).resolve())
        return data

    def check_profile(self, profile: str) -> None:
        """`profile` must be one of the target's profiles (`profiles`), else a ValidationError; against
        a stack chaosgate does not start (`remote:`), the one it runs (`remote.profile`)."""
        if self.remote is not None and profile != self.remote.profile:
            raise ValidationError(
                f"profile {profile!r}: the stack at {self.host} runs {self.remote.profile!r} "
                "(chaos.yaml's remote.profile); it is not started here, so it runs no other",
                self.location("remote", "profile"),
            )
        if self.remote is None and profile not in self.profiles:
            raise ValidationError(
                f"profile {profile!r} is not one of the target's profiles; valid: {', '.join(self.profiles)}",
                self.location("profiles"),
            )

    def location(self, *keys: str | int) -> Location:
        """Where `keys` is written in the file this topology came from (line 0 if not found)."""
        if self.source.is_file():
            return load_yaml(self.source).location(*keys)
        return Location(self.source, 0, dotted(keys))

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
        return self._http(self.proxy_port())

    def proxy_port(self) -> int:
        """`proxy.api_port` (load_topology requires it wherever no `remote.proxy_api` replaces it)."""
        if self.proxy is None:
            raise ValueError(f"{self.source} sets no proxy.api_port")
        return self.proxy.api_port

    def role_of(self, store: str) -> str:
        """What a store plays in the system (its `role`, else its name)."""
        return self.stores[store].role or store

    def health_path(self, service: str) -> str:
        """The path of a service's liveness check: its own `health`, else `service_defaults.live`."""
        return self.services[service].health or self.service_defaults.live

    def service_url(self, name: str) -> str:
        """The base URL of service `name` (the gateway's may be overridden by `remote.gateway`)."""
        if name == self.gateway and self.remote is not None and self.remote.gateway:
            return self.remote.gateway
        return self._http(self.services[name].port)

    def component_port(self, name: str) -> int:
        """The port a store or service itself listens on (not its proxy)."""
        if name in self.stores:
            port = self.stores[name].port
            if port is None:
                raise ValueError(f"store {name!r} has no port in {self.source}")
            return port
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
        """Every (port, owner) pair: the proxy API, each store, each link's listener, each service
        (those chaos.yaml gives: a stack chaosgate does not start may leave some out)."""
        if self.proxy is not None:
            yield self.proxy.api_port, "proxy API"
        for name, store in self.stores.items():
            if store.port is not None:
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

    @property
    def profile(self) -> str:
        """The profile a run uses unless it names one: `default_profile`, else the first of `profiles`."""
        return self.default_profile or self.profiles[0]

    def service_command(self, name: str, *, python: str) -> list[str]:
        """The argv that starts service `name` (from `service_defaults.command`)."""
        command = self.service_defaults.command
        if command is None:
            raise ValueError(f"{self.source} sets no service_defaults.command")
        return [part.replace("{python}", python).replace("{service}", name) for part in command]

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
            for dep in service.inherited_needs():
                if dep not in seen and dep not in skip:
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

    def features_apart_from(self, component: str) -> list[str]:
        """Features with no dependency path (hard or soft) to `component`: harm to them is collateral."""
        return [
            name
            for name in self.features
            if component not in self.feature_dependencies(name) | self.feature_soft_dependencies(name)
        ]

    def callers_of(self, component: str) -> list[str]:
        """Services that link to `component`, directly or through other services, nearest first."""
        found: list[str] = []
        frontier = [component]
        while frontier:
            nxt = [
                name
                for name, service in self.services.items()
                if name not in found and name != component and set(service.links) & set(frontier)
            ]
            found += sorted(nxt)
            frontier = nxt
        return found

    def caller_chain(self, component: str, towards: set[str]) -> list[str]:
        """The shortest chain of callers from `component` up to a component in `towards` (both ends
        included), or [] when none of them calls it."""
        paths = [[component]]
        seen = {component}
        while paths:
            grown = []
            for path in paths:
                for name, service in self.services.items():
                    if name in seen or path[-1] not in service.links:
                        continue
                    if name in towards:
                        return [*path, name]
                    seen.add(name)
                    grown.append([*path, name])
            paths = grown
        return []

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
        if data["proxy"] is not None:
            data["proxy"]["api_port"] += offset
        for section, key in (("stores", "port"), ("links", "listen"), ("services", "port")):
            for item in data[section].values():
                if item[key] is not None:
                    item[key] += offset
        moved = Topology.model_validate(data)
        moved._source = self._source
        return moved
