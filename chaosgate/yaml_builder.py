"""YAML parser events into plain data and the line of every key, refusing what is not plain, bounded YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaosgate.errors import Location, ValidationError
from chaosgate.yaml_document import KeyPath, brief, dotted

# Lists and mappings inside each other; our files nest 5 deep.
MAX_DEPTH = 64
# Values (keys included) once every alias is expanded: an alias bomb stops here, not in memory.
# chaos.yaml holds about 400; at this bound the worst file parses in 50 ms (libyaml), 0.5 s without.
MAX_NODES = 10_000

_STANDARD = "tag:yaml.org,2002:"
_STR = _STANDARD + "str"
_MERGE = _STANDARD + "merge"
_MAP = _STANDARD + "map"
_SEQ = _STANDARD + "seq"
_SCALAR_TAGS = frozenset(_STANDARD + name for name in ("str", "int", "float", "bool", "null"))
# Tags a plain scalar may resolve to by itself (a date is a timestamp, as SafeLoader reads it).
_CONSTRUCTED = _SCALAR_TAGS | {_STANDARD + "timestamp"}

# The parser classes whose events the builder reads: libyaml's, or the pure-Python one.
EventSource = type[yaml.CSafeLoader] | type[yaml.SafeLoader]


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


class DocumentBuilder:
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

    def build(self, text: str, source: EventSource) -> tuple[Any, dict[KeyPath, int]]:
        """The document's data and key lines, read from `source`'s events of `text`."""
        parser = source(text)
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
        return self.root, self.lines

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
                f"keys must be strings; {brief(key)} is not one (write it in quotes)", event, top.at
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
            raise self._error(f"{brief(event.value)} is not a valid {kind}", event) from None

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
            f"the tag {brief(shown)} is not allowed: these files hold plain values (text, numbers, "
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
