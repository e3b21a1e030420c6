"""YAML input that remembers where each key was written, so errors can name file, line and key."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from chaosgate.errors import Location, ValidationError

KeyPath = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


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


def parse_yaml(text: str, path: Path | str) -> YamlDocument:
    """Parse YAML text; syntax errors and duplicate keys become a ValidationError with a location."""
    path = Path(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise ValidationError(f"not valid YAML: {exc.problem}", Location(path, line)) from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"not valid YAML: {exc}", Location(path)) from None
    lines: dict[KeyPath, int] = {}
    if root is None:
        return YamlDocument(path, None, lines)
    data = _build(root, (), lines, path)
    return YamlDocument(path, data, lines)


def load_yaml(path: Path | str) -> YamlDocument:
    """Read and parse a YAML file; a missing or unreadable file is a ValidationError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read the file: {exc.strerror}", Location(path)) from None
    return parse_yaml(text, path)


def _build(node: yaml.Node, at: KeyPath, lines: dict[KeyPath, int], path: Path) -> Any:
    # Walk the composed node tree ourselves: the node marks are the only place line numbers live.
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ValidationError("YAML merge keys (<<) are not supported", _loc(path, key_node, at))
            key = _scalar(key_node)
            if not isinstance(key, str | int):
                raise ValidationError("keys must be strings", _loc(path, key_node, at))
            key = str(key)
            child = (*at, key)
            if key in out:
                raise ValidationError(
                    f"duplicate key {key!r} (first written on line {lines[child]})",
                    Location(path, key_node.start_mark.line + 1, dotted(child)),
                )
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, i), lines, path) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise TypeError("expected a scalar node")
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _loc(path: Path, node: yaml.Node, at: KeyPath) -> Location:
    return Location(path, node.start_mark.line + 1, dotted(at))


def validate(doc: YamlDocument, model: type[ModelT], *, context: dict[str, Any] | None = None) -> ModelT:
    """Validate a document against a pydantic model; the first error becomes one located message."""
    try:
        return model.model_validate(doc.data, context=context)
    except pydantic.ValidationError as exc:
        raise located_error(doc, exc, model) from None


def located_error(
    doc: YamlDocument, exc: pydantic.ValidationError, model: type[pydantic.BaseModel]
) -> ValidationError:
    """Turn pydantic's first error into one message naming file, line, key and what would be valid."""
    err = exc.errors(include_url=False)[0]
    raw_loc = [part for part in err["loc"] if isinstance(part, str | int)]
    kind = err["type"]
    loc = _keys_in_data(doc.data, raw_loc, keep_missing_last=kind == "missing")
    if kind == "union_tag_invalid":
        context = err.get("ctx") or {}
        tag = str(context.get("discriminator", "")).strip("'")
        return ValidationError(
            f"unknown {tag} {context.get('tag')!r}; valid: {context.get('expected_tags', '')}",
            doc.location(*loc, tag),
        )
    if kind == "extra_forbidden":
        allowed = _fields_at(model, raw_loc[:-1])
        valid = f"; valid keys here: {', '.join(allowed)}" if allowed else ""
        return ValidationError(f"unknown key {loc[-1]!r}{valid}", doc.location(*loc))
    if kind == "missing":
        return ValidationError(f"missing required key {loc[-1]!r}", doc.location(*loc))
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return ValidationError(f"{message}{shown}", doc.location(*loc))


def _keys_in_data(data: Any, loc: list[str | int], *, keep_missing_last: bool) -> list[str | int]:
    """Drop the parts of pydantic's error path that are not keys in the file (discriminator tags)."""
    keys: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        is_last = i == len(loc) - 1 and keep_missing_last
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        elif isinstance(current, dict) and not is_last and isinstance(part, str):
            continue  # a union member's tag, e.g. faults.0.<toxiproxy>.proxy
        else:
            current = None
        keys.append(part)
    return keys


def _fields_at(model: Any, loc: list[str | int]) -> list[str]:
    # pydantic does not report the allowed keys; follow the annotations down to the model at `loc`.
    current: Any = model
    for part in loc:
        current = _tagged_member(current, part)
        if current is None:
            return []
        if (
            isinstance(current, type)
            and issubclass(current, pydantic.BaseModel)
            and part not in current.model_fields
        ):
            continue  # `part` was the tag that chose this union member
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
            continue
        args = typing.get_args(current)
        if not args:
            return []
        current = args[-1]  # dict[K, V] -> V, list[X] -> X
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _tagged_member(annotation: Any, tag: str | int) -> Any:
    """For a union of models, the member whose Literal field equals `tag`; else the annotation itself."""
    members = [a for a in typing.get_args(_strip_annotated(annotation)) if isinstance(a, type)]
    models = [m for m in members if issubclass(m, pydantic.BaseModel)]
    if len(models) < 2:
        return annotation
    for member in models:
        for info in member.model_fields.values():
            if typing.get_origin(info.annotation) is typing.Literal and tag in typing.get_args(
                info.annotation
            ):
                return member
    return annotation


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _unwrap(annotation: Any) -> Any:
    # `X | None` and `Annotated[X, ...]` stand for X when looking for the model behind a key.
    while True:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType, typing.Annotated) and args:
            annotation = args[0]
            continue
        return annotation
