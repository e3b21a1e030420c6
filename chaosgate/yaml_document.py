"""A parsed YAML file and the line of every key in it, so errors can name file, line and key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosgate.errors import Location

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """Plain data parsed from a YAML file plus the 1-based line of every key and list item in it."""

    path: Path
    data: Any
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def location(self, *keys: str | int) -> Location:
        """Where `keys` sits; falls back to the closest enclosing key that exists in the file."""
        path: KeyPath = tuple(keys)
        while path and path not in self.lines:
            path = path[:-1]
        line = self.lines.get(path, 0)
        return Location(self.path, line, dotted(keys))


def dotted(keys: tuple[str | int, ...] | list[str | int]) -> str:
    """`("services", "auth", "links", 0)` → `services.auth.links[0]`."""
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
    return out


def brief(value: Any, limit: int = 40) -> str:
    """A value as an error message quotes it: its repr, cut at `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
