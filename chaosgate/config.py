"""chaos.yaml loaded and checked: the typed models of chaosgate.topology validated, then every
name, port, probe step and injector it refers to resolved, each problem at its own file, line and key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaosgate.errors import Location, Problem, ValidationError
from chaosgate.probes.steps import BUILTINS, HttpRequest, RequestStep
from chaosgate.probes.template import WRITE_ID
from chaosgate.registry import plugin_injectors
from chaosgate.scenario.models import BUILTIN_INJECTORS
from chaosgate.service_env import template_problem
from chaosgate.topology import LINK_TEMPLATE, Topology, WriterSpec
from chaosgate.yamlio import YamlDocument, load_yaml, validate


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
    """Names must resolve, ports must be unique and what the runtime needs must be there. Every
    problem is reported at once, each at its own key, with what would be valid."""
    problems = [
        *_port_problems(topology, doc),
        *_service_problems(topology, doc),
        *_name_problems(topology, doc),
        *_runtime_problems(topology, doc),
        *_env_problems(topology, doc),
    ]
    if problems:
        raise ValidationError.of(sorted(problems, key=lambda p: p.location.line if p.location else 0))
    check_declared(topology, doc)


def _service_problems(topology: Topology, doc: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    components = {*topology.stores, *topology.services}
    for name in sorted(set(topology.stores) & set(topology.services)):
        message = f"{name!r} is both a store and a service; names must be unique"
        problems.append(Problem(message, doc.location("services", name)))
    for name in topology.links:
        if name not in components:
            problems.append(
                Problem(
                    f"link {name!r} has no store or service of the same name to lead to"
                    f"{_did_you_mean(name, components)}; valid: {_names(components)}",
                    doc.location("links", name),
                )
            )
    for name, service in topology.services.items():
        for i, dep in enumerate(service.links):
            at = doc.location("services", name, "links", i)
            if dep not in topology.links:
                message = f"{dep!r} names no link{_did_you_mean(dep, topology.links)}"
                problems.append(Problem(f"{message}; valid: {_names(topology.links)}", at))
            elif dep == name:
                problems.append(Problem("a service cannot link to itself", at))
        for i, dep in enumerate(service.soft):
            if dep not in service.links:
                problems.append(
                    Problem(
                        f"soft link {dep!r} is not one of this service's links"
                        f"{_did_you_mean(dep, service.links)}; valid: {_names(service.links)}",
                        doc.location("services", name, "soft", i),
                    )
                )
        for i, dep in enumerate(service.needs or ()):
            if dep not in service.links or dep in service.soft:
                problems.append(
                    Problem(
                        f"needs {dep!r}: not one of this service's hard links"
                        f"{_did_you_mean(dep, service.links)}; valid: "
                        f"{_names([x for x in service.links if x not in service.soft])}",
                        doc.location("services", name, "needs", i),
                    )
                )
        for key, value in service.env.items():
            for match in LINK_TEMPLATE.finditer(value):
                if match.group(1) not in service.links:
                    problems.append(
                        Problem(
                            f"{{link:{match.group(1)}}} names no link of service {name!r}; valid: "
                            f"{', '.join(f'{{link:{n}}}' for n in service.links) or 'none (add links)'}",
                            doc.location("services", name, "env", key),
                        )
                    )
    if not problems:  # a cycle is only worth looking for once every link resolves
        try:
            topology.start_levels()
        except ValueError as exc:
            problems.append(Problem(str(exc), doc.location("services")))
    return problems


def _name_problems(topology: Topology, doc: YamlDocument) -> list[Problem]:
    """The gateway, features, writers, the switch map and compose's store env name known things."""
    components = {*topology.stores, *topology.services}
    checks: list[tuple[str, str, Any, tuple[str | int, ...]]] = [
        (topology.gateway, "service", topology.services, ("gateway",))
    ]
    for name, feature in topology.features.items():
        for key in ("depends_on", "soft"):
            for i, dep in enumerate(getattr(feature, key)):
                checks.append((dep, "store or service", components, ("features", name, key, i)))
    for name, writer in topology.writers.items():
        for i, feature_name in enumerate(writer.covers):
            checks.append((feature_name, "feature", topology.features, ("writers", name, "covers", i)))
    switchable = {*components, *topology.links, *(s.role for s in topology.stores.values() if s.role)}
    for name in topology.switches.components:
        checks.append((name, "store, service or link", switchable, ("switches", "components", name)))
    if topology.compose is not None:
        for name in topology.compose.store_env:
            checks.append((name, "store", topology.stores, ("compose", "store_env", name)))
        for name in topology.compose.upstream_env:
            checks.append((name, "service", topology.services, ("compose", "upstream_env", name)))
    if topology.default_profile is not None:
        checks.append((topology.default_profile, "profile", topology.profiles, ("default_profile",)))
    problems = [
        Problem(_unknown(name, what, valid), doc.location(*keys))
        for name, what, valid, keys in checks
        if name not in valid
    ]
    unknown = set(topology.switches.injectors) - BUILTIN_INJECTORS
    if unknown:
        injectors = BUILTIN_INJECTORS | set(plugin_injectors())
        problems += [
            Problem(_unknown(name, "injector", injectors), doc.location("switches", "injectors", name))
            for name in sorted(unknown - injectors)
        ]
    return problems


def _env_problems(topology: Topology, doc: YamlDocument) -> list[Problem]:
    """Every service env template (service_defaults.env, compose.upstream_env) fills in: known
    placeholders, links that exist. A service's own env is checked against its links above."""
    places: list[tuple[dict[str, str], tuple[str, ...]]] = [
        (topology.service_defaults.env, ("service_defaults", "env"))
    ]
    if topology.compose is not None:
        upstream = topology.compose.upstream_env
        places += [(env, ("compose", "upstream_env", name)) for name, env in upstream.items()]
    places += [(service.env, ("services", name, "env")) for name, service in topology.services.items()]
    return [
        Problem(problem, doc.location(*keys, key))
        for env, keys in places
        for key, template in env.items()
        if (problem := template_problem(template, topology.links)) is not None
    ]


def _runtime_problems(topology: Topology, doc: YamlDocument) -> list[Problem]:
    """What chaosgate needs of the stack where it starts it (the local runtime) or reaches it; keys
    it would not use are not asked for."""
    problems: list[Problem] = []
    starts = topology.remote is None and topology.runtime == "local"
    if topology.proxy is None and (topology.remote is None or topology.remote.proxy_api is None):
        if starts:
            why = "the local runtime starts the fault proxy's API on proxy.api_port"
        elif topology.remote is None:
            why = "the compose runtime publishes Toxiproxy's API on proxy.api_port"
        else:
            why = "the fault proxy's API is http://<remote.host>:<proxy.api_port> without remote.proxy_api"
        message = f"missing required key 'proxy': {why} (e.g. proxy: {{api_port: 8474}})"
        problems.append(Problem(message, doc.location("proxy")))
    if not starts:
        return problems
    if topology.service_defaults.command is None:
        problems.append(
            Problem(
                "missing required key 'command': the local runtime starts every service with it, "
                'e.g. command: ["{python}", "-m", "myapp", "{service}"]',
                doc.location("service_defaults", "command"),
            )
        )
    for name, store in topology.stores.items():
        if store.port is None:
            problems.append(
                Problem(
                    f"missing required key 'port': the local runtime starts store {name!r} listening on it",
                    doc.location("stores", name, "port"),
                )
            )
    return problems


def _port_problems(topology: Topology, doc: YamlDocument) -> list[Problem]:
    keys: dict[str, tuple[str, ...]] = {"proxy API": ("proxy", "api_port")}
    for name in topology.stores:
        keys[f"store {name}"] = ("stores", name, "port")
    for name in topology.links:
        keys[f"proxy {name}"] = ("links", name, "listen")
    for name in topology.services:
        keys[f"service {name}"] = ("services", name, "port")
    owners: dict[int, str] = {}
    problems: list[Problem] = []
    for port, owner in topology.ports():
        if port in owners:
            first = doc.location(*keys[owners[port]])
            problems.append(
                Problem(
                    f"port {port} is already used by {owners[port]} (line {first.line}); "
                    "every port must be written once",
                    doc.location(*keys[owner]),
                )
            )
        else:
            owners[port] = owner
    return problems


def _unknown(name: str, what: str, valid: Any) -> str:
    return f"{name!r} is no {what}{_did_you_mean(name, valid)}; valid: {_names(valid)}"


def _did_you_mean(name: str, valid: Any) -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"


def check_declared(topology: Topology, doc: YamlDocument) -> None:
    """Every `${name}` has a value where it is used, writers are declared whole or come from the
    plugin, captures are single values: all problems at once, each at its key."""
    checks = _DeclaredChecks(doc)
    shared = checks.steps(topology.probes.setup, set(BUILTINS), "probes", "setup")
    for name, feature in topology.features.items():
        if feature.probe is not None:
            checks.steps(feature.probe, shared, "features", name, "probe")
    for name, writer in topology.writers.items():
        checks.writer(name, writer, shared, plugin=topology.probes.plugin is not None)
    load = topology.load
    if load is not None and load.requests:
        known = checks.steps(load.setup, set(BUILTINS), "load", "setup")
        # A request may use what another captures: until that one has run, it fails as a load error.
        known |= {name for request in load.requests for name in request.capture}
        checks.steps(list(load.requests), known, "load", "requests")
    if checks.problems:
        raise ValidationError.of(checks.problems)


class _DeclaredChecks:
    """The problems check_declared finds in chaos.yaml's declared requests, each at its key."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def unknown(self, request: HttpRequest, known: Iterable[str], *keys: str | int) -> None:
        """Each `${name}` the request uses that has no value where it runs."""
        valid = set(known)
        for name in sorted(request.variables() - valid):
            listed = ", ".join(f"${{{n}}}" for n in sorted(valid))
            self.problems.append(
                Problem(
                    f"${{{name}}} has no value here: capture it in an earlier step (or in probes.setup) "
                    f"or use a built-in; known here: {listed}",
                    self.doc.location(*keys),
                )
            )

    def steps(self, items: list[RequestStep], known: set[str], *keys: str | int) -> set[str]:
        """Checks a run of steps in order; returns the names known after them (their captures added)."""
        for i, step in enumerate(items):
            self.unknown(step, known, *keys, i)
            for name, path in step.capture.items():
                at = self.doc.location(*keys, i, "capture", name)
                if name in BUILTINS or name == WRITE_ID:
                    self.problems.append(Problem(f"${{{name}}} is a built-in; capture into another name", at))
                if not path.single:
                    self.problems.append(Problem(f"a capture names one value; {path} has a [*] wildcard", at))
            known = known | set(step.capture)
        return known

    def writer(self, name: str, writer: WriterSpec, shared: set[str], *, plugin: bool) -> None:
        """A writer is declared whole (write and read_back) or, when a plugin is named, not at all."""
        if writer.write is None and writer.read_back is None:
            if not plugin:
                self.problems.append(
                    Problem(
                        f"writer {name!r} declares no `write:` and `read_back:`, and no probe plugin is "
                        "named (probes.plugin) to provide it; declare both",
                        self.doc.location("writers", name),
                    )
                )
            return
        if writer.write is None or writer.read_back is None:
            missing = "write" if writer.write is None else "read_back"
            self.problems.append(
                Problem(f"writer {name!r} needs `{missing}:` too", self.doc.location("writers", name))
            )
            return
        self.unknown(writer.write, shared | {WRITE_ID}, "writers", name, "write")
        back = writer.read_back
        if back.per_item and WRITE_ID not in back.variables():
            self.problems.append(
                Problem(
                    "a read-back with `found:` asks for each write by its id: use ${write_id} in its "
                    "path (e.g. /orders/${write_id})",
                    self.doc.location("writers", name, "read_back", "path"),
                )
            )
        self.unknown(back, shared | ({WRITE_ID} if back.per_item else set()), "writers", name, "read_back")
