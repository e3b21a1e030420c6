"""What is derived from a topology: addresses and ports, start order, who depends on whom (hard and soft,
through services' links), callers and the fault proxy's config. A mixin of chaosgate.topology.Topology,
which holds the fields these read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosgate.topology_models import LOOPBACK, StoreKind

if TYPE_CHECKING:
    from chaosgate.topology_models import (
        Feature,
        Link,
        ProxySettings,
        Remote,
        Service,
        ServiceDefaults,
        Store,
    )


class TopologyQueries:
    """Queries over Topology's fields (declared here for the type checker only)."""

    if TYPE_CHECKING:
        remote: Remote | None
        proxy: ProxySettings | None
        stores: dict[str, Store]
        links: dict[str, Link]
        services: dict[str, Service]
        service_defaults: ServiceDefaults
        gateway: str
        features: dict[str, Feature]

        @property
        def source(self) -> Path: ...

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

    def store_url(self, name: str, *, address: str) -> str:
        """The URL of store `name` at `address` (host:port: its own, or its link's), by its kind."""
        store = self.stores[name]
        if store.kind is StoreKind.REDIS:
            return f"redis://{address}/0"
        if store.kind is StoreKind.S3:
            return f"http://{address}"
        return f"postgresql://postgres@{address}/{store.database}"

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
