"""The topology in chaos.yaml as one typed model: its parts (chaosgate.topology_models) and the queries
derived from them (chaosgate.topology_queries); chaosgate.config loads and checks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from chaosgate.errors import Location, ValidationError
from chaosgate.topology_models import (
    LINK_TEMPLATE,
    LOOPBACK,
    ComposeSettings,
    Feature,
    GateSettings,
    Link,
    LoadSettings,
    ProbeSettings,
    ProxySettings,
    Remote,
    Scoring,
    Service,
    ServiceDefaults,
    Store,
    StoreKind,
    Strict,
    SwitchMap,
    WriterSpec,
)
from chaosgate.topology_queries import TopologyQueries
from chaosgate.yamlio import dotted, load_yaml

# The parts, importable from here as before (one definition each, in chaosgate.topology_models).
__all__ = [
    "LINK_TEMPLATE",
    "LOOPBACK",
    "ComposeSettings",
    "Feature",
    "Link",
    "ProbeSettings",
    "Remote",
    "Service",
    "Store",
    "StoreKind",
    "Topology",
    "WriterSpec",
]


class Topology(TopologyQueries, Strict):
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

    @property
    def profile(self) -> str:
        """The profile a run uses unless it names one: `default_profile`, else the first of `profiles`."""
        return self.default_profile or self.profiles[0]

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
