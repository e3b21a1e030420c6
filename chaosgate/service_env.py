"""What a runtime hands each service it starts: chaos.yaml's `service_defaults.env` and the service's own
`env`, with chaosgate's placeholders filled in.

The names of the variables are the target's (its chaos.yaml says them); chaosgate only fills values:

| placeholder | value |
| --- | --- |
| `{service}`, `{host}`, `{port}` | the service's name, the address it binds, its port |
| `{profile}`, `{switches}` | the profile the stack runs and its switches (`a=on,b=off`) |
| `{run_dir}` | the stack's run dir (data, logs) |
| `{secret:NAME}` | a random secret of this stack, kept in the run dir as NAME (0600) |
| `{link:X}`, `{link_host:X}`, `{link_port:X}` | the address of the proxy in front of X, its host, its port |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(
    r"\{(service|host|port|profile|switches|run_dir|(secret|link|link_host|link_port):([^}]*))\}"
)
ANY_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")
SIMPLE = ("service", "host", "port", "profile", "switches", "run_dir")
NAMED = ("secret", "link", "link_host", "link_port")
SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ServiceContext:
    """The values one runtime fills in for one service."""

    service: str
    host: str
    port: int
    profile: str
    switches: str
    run_dir: str
    secret: Callable[[str], str]  # NAME -> the secret (or, in a compose file, a variable reference)
    link: Callable[[str], str]  # link name -> host:port of its proxy

    def value(self, match: re.Match[str]) -> str:
        kind, name = match.group(2), match.group(3)
        if kind is None:
            return str(getattr(self, match.group(1)))
        if kind == "secret":
            return self.secret(name)
        address = self.link(name)
        host, _, port = address.rpartition(":")
        return {"link": address, "link_host": host, "link_port": port}[kind]


def render(template: str, context: ServiceContext) -> str:
    return PLACEHOLDER.sub(context.value, template)


def templates(defaults: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """A service's env before filling: `service_defaults.env`, then its own (which wins)."""
    return {**defaults, **own}


def secrets_named(env_templates: Mapping[str, str]) -> list[str]:
    """The NAMEs of every `{secret:NAME}` these templates use, in order, once each."""
    found: dict[str, None] = {}
    for template in env_templates.values():
        for match in PLACEHOLDER.finditer(template):
            if match.group(2) == "secret":
                found[match.group(3)] = None
    return list(found)


def template_problem(template: str, links: Mapping[str, object]) -> str | None:
    """Why `template` cannot be filled (an unknown placeholder, a link chaos.yaml lacks), or None."""
    for match in ANY_PLACEHOLDER.finditer(template):
        kind = match.group(1)
        if kind not in SIMPLE and kind not in NAMED:
            known = ", ".join([*(f"{{{k}}}" for k in SIMPLE), *(f"{{{k}:NAME}}" for k in NAMED)])
            return f"unknown placeholder {match.group(0)} (known: {known})"
    for match in PLACEHOLDER.finditer(template):
        kind, name = match.group(2), match.group(3)
        if kind == "secret" and not SECRET_NAME.match(name):
            return f"{match.group(0)}: a secret's name is lower-case letters, digits and _"
        if kind in ("link", "link_host", "link_port") and name not in links:
            return f"{match.group(0)}: no link named {name!r} (links: {', '.join(links)})"
    return None
