"""The compose runtime's generated files (docker-compose.yml and its local-image override,
deploy/toxiproxy.json, deploy/prometheus.yml), written next to chaos.yaml and checked for staleness."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from chaosgate import compose
from chaosgate.stack import images
from chaosgate.topology import Topology


def render(topology: Topology) -> dict[str, str]:
    """Every generated file: path relative to chaos.yaml's directory -> text."""
    header = compose.HEADER.format(source=topology.source.name)
    return {
        compose.COMPOSE_FILE: header + compose.to_yaml(compose.compose_document(topology)),
        images.LOCAL_FILE: header + images.LOCAL_HEADER + compose.to_yaml(images.override_document(topology)),
        compose.TOXIPROXY_FILE: json.dumps(compose.toxiproxy_config(topology), indent=2) + "\n",
        compose.PROMETHEUS_FILE: header + compose.to_yaml(compose.prometheus_config(topology)),
    }


def write(topology: Topology, root: Path | None = None) -> list[Path]:
    """Write the files next to chaos.yaml (or under `root`); returns those whose content changed."""
    base = root or topology.source.parent
    changed: list[Path] = []
    for relative, text in render(topology).items():
        path = base / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


def check(topology: Topology, root: Path | None = None) -> list[str]:
    """What differs between the files on disk and what the topology generates: one unified diff per
    stale file (empty when everything is current)."""
    base = root or topology.source.parent
    problems: list[str] = []
    for relative, text in render(topology).items():
        path = base / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{relative} (on disk)",
                tofile=f"{relative} (from {topology.source.name})",
            )
            problems.append("".join(diff))
    return problems
