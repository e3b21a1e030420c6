"""YAML input that remembers where each key was written, so errors can name file, line and key.

Every file is read as if it were hostile: bounded in size, nesting and alias-expanded size, plain
YAML only (no tags beyond the standard text/number/boolean/null/list/mapping ones, no complex or
merge keys), and every way it can be wrong ends in a ValidationError naming file and line, never
in another exception.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from chaosgate.errors import Location, Problem, ValidationError

KeyPath = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

# A scenario is about 1 kB and chaos.yaml about 10 kB: a megabyte is no hand-written file, and the
# limit keeps the parse of any file well under a second.
MAX_FILE_BYTES = 1_000_000
# Lists and mappings inside each other; our files nest 5 deep.
MAX_DEPTH = 64
# Values (keys included) once every alias is expanded: an alias bomb stops here, not in memory.
# chaos.yaml holds about 400; at this bound the worst file parses in 50 ms (libyaml), 0.5 s without.
MAX_NODES = 10_000
# Problems listed for one file; past this the rest are counted, not listed.
MAX_PROBLEMS = 20

_STANDARD = "tag:yaml.org,2002:"
_STR = _STANDARD + "str"
_MERGE = _STANDARD + "merge"
_MAP = _STANDARD + "map"
_SEQ = _STANDARD + "seq"
_SCALAR_TAGS = frozenset(_STANDARD + name for name in ("str", "int", "float", "bool", "null"))
# Tags a plain scalar may resolve to by itself (a date is a timestamp, as SafeLoader reads it).
_CONSTRUCTED = _SCALAR_TAGS | {_STANDARD + "timestamp"}
# What YAML allows in a stream (yaml.reader); anything else is a control character or not text.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# libyaml when it is installed: about ten times faster than the pure-Python parser. Its marks carry
# the same 0-based lines.
_EVENT_SOURCE = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


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
    """Parse YAML text; anything but plain, bounded YAML is a ValidationError with a location."""
    path = Path(path)
    if len(text) > MAX_FILE_BYTES:
        raise ValidationError(
            f"the file is larger than {MAX_FILE_BYTES:,} characters; scenario and configuration "
            "files are a few kB",
            Location(path),
        )
    bad = _NON_PRINTABLE.search(text)
    if bad:
        at = bad.start()
        line = text.count("\n", 0, at) + 1
        raise ValidationError(
            f"character U+{ord(bad.group()):04X} in column {at - text.rfind(chr(10), 0, at)} is not "
            "allowed in YAML (a control character: is this a text file?)",
            Location(path, line),
        )
    return _DocumentBuilder(path).build(text)


def load_yaml(path: Path | str) -> YamlDocument:
    """Read and parse a YAML file; a missing, unreadable, oversized or undecodable file is refused too."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # never more, whatever the file (or device) is
    except OSError as exc:
        raise ValidationError(f"cannot read the file: {exc.strerror}", Location(path)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationError(
            f"the file is larger than {MAX_FILE_BYTES:,} bytes; scenario and configuration files "
            "are a few kB",
            Location(path),
        )
    return parse_yaml(_decode(raw, path), path)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError("the file is UTF-16 text; save it as UTF-8", Location(path, 1))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise ValidationError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} in column {column} cannot be decoded "
            "(an editor saved it as Latin-1 or another encoding?); save the file as UTF-8",
            Location(path, line),
        ) from None


@dataclass
class _Open:
    """A list or mapping whose items are still being read."""

    at: KeyPath
    value: dict[str, Any] | list[Any]
    anchor: str | None
    first_node: int  # the node count before this one: what it and its items add is its size
    height: int = 1  # levels of lists and mappings in it, itself included
    key: str | None = None  # in a mapping, the key whose value comes next


@dataclass
class _Anchor:
    value: Any
    line: int
    nodes: int = 1  # values it stands for, aliases inside it expanded
    height: int = 0  # levels of lists and mappings in it (0: a scalar)
    complete: bool = True  # False while the list or mapping it names is still being read


class _DocumentBuilder:
    """Plain data and the line of every key, built from the parser's events with every limit checked.

    Building from events, not from a composed node tree, keeps depth, size and aliases in our hands:
    nothing recurses, an alias is counted at its expanded size before it is used (and shares the
    anchored value, as PyYAML does, so it costs no memory), and each refusal knows its line and key.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[KeyPath, int] = {}
        self.stack: list[_Open] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0
        self.aliased = False
        self.documents = 0
        self.root: Any = None
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, text: str) -> YamlDocument:
        parser = _EVENT_SOURCE(text)
        try:
            while parser.check_event():
                event = parser.get_event()
                if event is not None:
                    self._take(event)
        except yaml.MarkedYAMLError as exc:
            raise self._syntax_error(exc) from None
        except yaml.YAMLError as exc:
            raise ValidationError(f"not valid YAML: {exc}", Location(self.path)) from None
        except RecursionError:  # no code path of ours recurses; a parser's might
            raise ValidationError("not valid YAML: nested too deeply", Location(self.path)) from None
        finally:
            parser.dispose()
        return YamlDocument(self.path, self.root, self.lines)

    def _take(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self._error("a file holds one YAML document; a second one (---) starts here", event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._close()

    # -- where the next value goes

    def _expects_key(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is None

    def _here(self) -> KeyPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.at, len(top.value))
        return top.at if top.key is None else (*top.at, top.key)

    def _place(self, value: Any, event: yaml.Event) -> None:
        at = self._here()
        if not self.stack:
            self.root = value
        else:
            top = self.stack[-1]
            if isinstance(top.value, list):
                top.value.append(value)
            else:
                assert top.key is not None
                top.value[top.key] = value
                top.key = None
        self.lines.setdefault(at, _line(event))

    def _set_key(self, key: Any, event: yaml.Event) -> None:
        top = self.stack[-1]
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise self._error(
                f"keys must be strings; {_shown(key)} is not one (write it in quotes)", event, top.at
            )
        key = str(key)
        child = (*top.at, key)
        assert isinstance(top.value, dict)
        if key in top.value:
            raise self._error(
                f"duplicate key {key!r} (first written on line {self.lines[child]})", event, child
            )
        self._count(1, event)
        self.lines[child] = _line(event)
        top.key = key

    def _count(self, nodes: int, event: yaml.Event) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            expanded = " once its aliases are expanded (an alias bomb?)" if self.aliased else ""
            raise self._error(
                f"the file holds more than {MAX_NODES:,} values{expanded}; scenario and configuration "
                "files hold a few hundred",
                event,
            )

    # -- one method per kind of event

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        tag = self._scalar_tag(event)
        is_key = self._expects_key()
        if is_key and tag == _MERGE:
            raise self._error("YAML merge keys (<<) are not supported", event, self.stack[-1].at)
        value = self._construct(tag, event)
        if event.anchor is not None:
            self._define(event.anchor, _Anchor(value, _line(event)), event)
        if is_key:
            self._set_key(value, event)
        else:
            self._count(1, event)
            self._place(value, event)

    def _scalar_tag(self, event: yaml.ScalarEvent) -> str:
        if event.tag is None:
            return str(self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit))
        if event.tag == "!":  # the non-specific tag: text, whatever it looks like
            return _STR
        if event.tag in _SCALAR_TAGS:
            return str(event.tag)
        raise self._refused_tag(event.tag, event)

    def _construct(self, tag: str, event: yaml.ScalarEvent) -> Any:
        if tag not in _CONSTRUCTED:
            tag = _STR  # `<<` or `=` as a value: plain text
        # One constructor for every scalar: SafeConstructor's per-tag functions only read node.value.
        construct = self.constructor.yaml_constructors[tag]
        try:
            return construct(self.constructor, yaml.ScalarNode(tag, event.value))
        except (ValueError, KeyError, IndexError, AttributeError, OverflowError):
            kind = tag.removeprefix(_STANDARD)
            raise self._error(f"{_shown(event.value)} is not a valid {kind}", event) from None

    def _open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        if self._expects_key():
            raise self._error(
                "a key must be a plain value, not a list or a mapping (a YAML complex key)",
                event,
                self.stack[-1].at,
            )
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (None, "!", _MAP if is_mapping else _SEQ):
            raise self._refused_tag(str(event.tag), event)
        if len(self.stack) >= MAX_DEPTH:
            raise self._error(f"lists and mappings are nested more than {MAX_DEPTH} deep here", event)
        first = self.nodes
        self._count(1, event)
        at = self._here()
        value: dict[str, Any] | list[Any] = {} if is_mapping else []
        if event.anchor is not None:
            self._define(event.anchor, _Anchor(value, _line(event), complete=False), event)
        self._place(value, event)
        self.stack.append(_Open(at, value, event.anchor, first))

    def _close(self) -> None:
        done = self.stack.pop()
        if done.anchor is not None:
            anchor = self.anchors[done.anchor]
            anchor.nodes, anchor.height, anchor.complete = self.nodes - done.first_node, done.height, True
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, done.height + 1)

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = str(event.anchor)
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self._error(f"alias *{name} names no anchor (&{name}) written before it", event)
        if not anchor.complete:
            raise self._error(
                f"alias *{name} is inside the list or mapping it names (anchored on line {anchor.line}): "
                "a recursive alias",
                event,
            )
        if self._expects_key():
            if anchor.height:
                raise self._error(
                    f"a key must be a plain value; *{name} is a list or a mapping", event, self.stack[-1].at
                )
            self._set_key(anchor.value, event)
            return
        self.aliased = True
        self._count(anchor.nodes, event)
        if len(self.stack) + anchor.height > MAX_DEPTH:
            raise self._error(f"lists and mappings are nested more than {MAX_DEPTH} deep here", event)
        self._place(anchor.value, event)
        if self.stack:
            self.stack[-1].height = max(self.stack[-1].height, anchor.height + 1)

    def _define(self, name: str, anchor: _Anchor, event: yaml.Event) -> None:
        if name in self.anchors:
            raise self._error(
                f"anchor &{name} is defined twice (first on line {self.anchors[name].line})", event
            )
        self.anchors[name] = anchor

    # -- errors

    def _error(self, message: str, event: yaml.Event, at: KeyPath | None = None) -> ValidationError:
        where = self._here() if at is None else at
        return ValidationError(message, Location(self.path, _line(event), dotted(where)))

    def _refused_tag(self, tag: str, event: yaml.Event) -> ValidationError:
        shown = "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag
        return self._error(
            f"the tag {_shown(shown)} is not allowed: these files hold plain values (text, numbers, "
            "true/false, null, lists and mappings), no tags",
            event,
        )

    def _syntax_error(self, exc: yaml.MarkedYAMLError) -> ValidationError:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        if exc.context and exc.context_mark is not None and exc.problem:
            problem += f" ({exc.context}, from line {exc.context_mark.line + 1})"
        at = self.stack[-1].at if self.stack else ()
        line = mark.line + 1 if mark is not None else 0
        return ValidationError(f"not valid YAML: {problem}", Location(self.path, line, dotted(at)))


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate(doc: YamlDocument, model: type[ModelT], *, context: dict[str, Any] | None = None) -> ModelT:
    """Validate a document against a pydantic model; every error becomes one located problem."""
    try:
        return model.model_validate(doc.data, context=context)
    except pydantic.ValidationError as exc:
        raise located_error(doc, exc, model) from None


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
                f"unknown {tag} {_shown(context.get('tag'))}{hint}; valid: {expected}",
                doc.location(*loc, tag),
            )
        )
    if kind == "extra_forbidden":
        allowed = _fields_at(model, raw_loc[:-1])
        matches = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        meant = matches[0] if matches else None
        hint = f" (did you mean {meant!r}?)" if meant else ""
        valid = f"; valid keys here: {', '.join(allowed)}" if allowed else ""
        message = f"unknown key {_shown(loc[-1])}{hint}{valid}"
        return _Found(Problem(message, doc.location(*loc)), tuple(loc[:-1]), meant=meant)
    if kind == "missing":
        problem = Problem(f"missing required key {loc[-1]!r}", doc.location(*loc))
        return _Found(problem, tuple(loc[:-1]), missing=str(loc[-1]))
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or got is None or deeper else f" (got {_shown(got, 60)})"
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
