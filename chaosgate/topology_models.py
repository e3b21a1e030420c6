"""The parts of chaos.yaml's topology as typed models: stores, links, services, features, writers and
the settings around them (chaosgate.topology assembles them into Topology)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaosgate.durations import Duration
from chaosgate.probes.steps import (
    LoadRequest,
    ProbeSteps,
    ReadBack,
    RequestStep,
    WriteRequest,
)

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
