"""`${name}` templates in declared requests: captured values and built-ins substituted at send time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PLACEHOLDER = re.compile(r"\$\{(" + NAME + r")\}")
WHOLE = re.compile(r"\$\{(" + NAME + r")\}\Z")

UUID = "uuid"  # a fresh UUID for every request (the same one everywhere within that request)
WRITE_ID = "write_id"  # a ledger writer's unique id for this write


class TemplateError(KeyError):
    """A `${name}` with no value: chaos.yaml's check catches these before a run, so this is a bug."""

    def __str__(self) -> str:
        return f"${{{self.args[0]}}} has no value (not captured yet, and not a built-in)"


def names_in(value: Any) -> Iterator[str]:
    """Every `${name}` in a string, or in the strings of a JSON value (keys are left alone)."""
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from names_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from names_in(item)


def _lookup(variables: Mapping[str, Any], name: str) -> Any:
    if name not in variables:
        raise TemplateError(name)
    return variables[name]


def render_text(text: str, variables: Mapping[str, Any], *, quote: Callable[[str], str] = str) -> str:
    """`text` with each `${name}` replaced by its value as text, passed through `quote`."""
    return PLACEHOLDER.sub(lambda m: quote(_text(_lookup(variables, m.group(1)))), text)


def render_json(value: Any, variables: Mapping[str, Any]) -> Any:
    """A JSON value with its strings rendered. A string that is one `${name}` and nothing else takes
    the value itself, so a captured number stays a number."""
    if isinstance(value, str):
        whole = WHOLE.match(value)
        if whole:
            return _lookup(variables, whole.group(1))
        return render_text(value, variables)
    if isinstance(value, dict):
        return {key: render_json(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, variables) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes it, not Python's True
    return "" if value is None else str(value)
