"""pydantic's validation errors as problems that name file, line, key and what would be valid there."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import pydantic

from chaosgate.errors import Problem, ValidationError
from chaosgate.yaml_document import KeyPath, YamlDocument, brief

# Problems listed for one file; past this the rest are counted, not listed.
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class _Found:
    problem: Problem
    parent: KeyPath = ()
    meant: str | None = None  # an unknown key's likely intended name
    missing: str | None = None  # a missing key's name


def located_error(
    doc: YamlDocument, exc: pydantic.ValidationError, model: type[pydantic.BaseModel]
) -> ValidationError:
    """Every pydantic error as a problem naming file, line, key and what would be valid, in line order.

    A misspelt key is one problem, "unknown key 'fautls' (did you mean 'faults'?)", not also the
    "missing required key 'faults'" it causes.
    """
    found = [_located(doc, err, model) for err in exc.errors(include_url=False)]
    misspelt = {(f.parent, f.meant) for f in found if f.meant is not None}
    problems: list[Problem] = []
    for f in found:
        if f.missing is not None and (f.parent, f.missing) in misspelt:
            continue
        if f.problem not in problems:
            problems.append(f.problem)
    problems.sort(key=lambda p: p.location.line if p.location else 0)
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], Problem(f"… and {more} more problem(s) in {doc.path}")]
    return ValidationError.of(problems)


def _located(doc: YamlDocument, err: Any, model: type[pydantic.BaseModel]) -> _Found:
    kind = err["type"]
    context = err.get("ctx") or {}
    raw_loc = [part for part in err["loc"] if isinstance(part, str | int)]
    deeper = context.get("at")  # a validator of ours pointing below the model it checks
    if isinstance(deeper, tuple):
        raw_loc += [part for part in deeper if isinstance(part, str | int)]
    loc = _keys_in_data(doc.data, raw_loc, keep_missing_last=kind == "missing" or bool(deeper))
    if kind == "union_tag_invalid":
        tag = str(context.get("discriminator", "")).strip("'")
        expected = str(context.get("expected_tags", ""))
        hint = _did_you_mean(context.get("tag"), _quoted(expected))
        return _Found(
            Problem(
                f"unknown {tag} {brief(context.get('tag'))}{hint}; valid: {expected}",
                doc.location(*loc, tag),
            )
        )
    if kind == "extra_forbidden":
        allowed = _fields_at(model, raw_loc[:-1])
        matches = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        meant = matches[0] if matches else None
        hint = f" (did you mean {meant!r}?)" if meant else ""
        valid = f"; valid keys here: {', '.join(allowed)}" if allowed else ""
        message = f"unknown key {brief(loc[-1])}{hint}{valid}"
        return _Found(Problem(message, doc.location(*loc)), tuple(loc[:-1]), meant=meant)
    if kind == "missing":
        problem = Problem(f"missing required key {loc[-1]!r}", doc.location(*loc))
        return _Found(problem, tuple(loc[:-1]), missing=str(loc[-1]))
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None or deeper else f" (got {brief(got, 60)})"
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind in ("enum", "literal_error"):
        message += _did_you_mean(got, _quoted(str(context.get("expected", ""))))
    return _Found(Problem(f"{message}{shown}", doc.location(*loc)))


def _quoted(text: str) -> list[str]:
    """`"'a', 'b' or 'c'"` (how pydantic lists the valid values) → `["a", "b", "c"]`."""
    return re.findall(r"'([^']*)'", text)


def _did_you_mean(got: Any, valid: list[str]) -> str:
    if not isinstance(got, str) or not valid:
        return ""
    matches = difflib.get_close_matches(got, valid, n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


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
