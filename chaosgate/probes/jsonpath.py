"""The JSONPath subset that picks values out of an answer: `$.a.b`, `$.a[0].b`, `$.items[*].id`.

Hand-rolled on purpose: the subset is a few dozen lines, it is parsed once when chaos.yaml is loaded
(so a typo is a located ValidationError before anything runs, in our words), and it adds no
dependency to chaosgate or to the Locust processes that run declared load. Filters, slices, recursive
descent and scripts are left out: a capture names one value, a listing names one list of ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

WILDCARD = "*"
_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)      # .name
      | \.\*                                    # .*   (every item or value)
      | \[(?P<index>-?\d+)\]                    # [0]  [-1]
      | \[\*\]                                  # [*]
      | \[(?P<quote>['"])(?P<key>[^'"]*)(?P=quote)\]  # ['a key with spaces']
    """,
    re.VERBOSE,
)


class JsonPathError(ValueError):
    """A path outside the subset, or one that does not match an answer."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: each step a key (str), an index (int) or the wildcard ("*")."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        if not text.startswith("$"):
            raise JsonPathError(f"a JSONPath starts with $ (e.g. $.id or $.items[*].id), not {text!r}")
        steps: list[str | int] = []
        at = 1
        while at < len(text):
            match = _SEGMENT.match(text, at)
            if match is None:
                raise JsonPathError(
                    f"{text!r}: cannot read {text[at:]!r}; this subset knows .name, ['name'], [0] and [*]"
                )
            if match.group("name") is not None:
                steps.append(match.group("name"))
            elif match.group("index") is not None:
                steps.append(int(match.group("index")))
            elif match.group("key") is not None:
                steps.append(match.group("key"))
            else:
                steps.append(WILDCARD)
            at = match.end()
        return cls(text, tuple(steps))

    @property
    def single(self) -> bool:
        """Whether the path can name at most one value (no wildcard)."""
        return WILDCARD not in self.steps

    def find(self, document: Any) -> list[Any]:
        """Every value the path names in `document` (empty when it names nothing)."""
        return list(_walk(document, self.steps))

    def reach(self, document: Any) -> Reach:
        """How far the path gets in `document`: the longest leading part that names something, and
        the step after it. Says why `find` came back empty: a typo, or an empty list."""
        values = [document]
        for at, step in enumerate(self.steps):
            deeper = [found for value in values for found in _walk(value, (step,))]
            if not deeper:
                return Reach(_text(self.steps[:at]), values, _text((step,))[1:])
            values = deeper
        return Reach(self.text, values, "")

    def one(self, document: Any) -> Any:
        """The value a wildcard-free path names; JsonPathError when there is none."""
        found = self.find(document)
        if not found:
            raise JsonPathError(f"{self.text} names nothing in the answer")
        return found[0]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Reach:
    """The leading part of a path that names something in a document (`matched`, e.g. `$` or
    `$.items[*]`), what it names (`values`), and the step that then names nothing (`missing`, e.g.
    `.ref`; empty when the whole path matched)."""

    matched: str
    values: list[Any]
    missing: str

    @property
    def empty(self) -> bool:
        """The path stops at a wildcard over empty lists or objects: an empty listing, not a typo."""
        return self.missing == "[*]" and all(v in ([], {}) for v in self.values)


def _text(steps: tuple[str | int, ...]) -> str:
    """Steps written back as a path (the wildcard as [*], odd keys quoted)."""
    parts = ["$"]
    for step in steps:
        if step == WILDCARD:
            parts.append("[*]")
        elif isinstance(step, int):
            parts.append(f"[{step}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            parts.append(f".{step}")
        else:
            parts.append(f"[{step!r}]")
    return "".join(parts)


def _walk(value: Any, steps: tuple[str | int, ...]) -> Iterator[Any]:
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if step == WILDCARD:
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
        for item in items:
            yield from _walk(item, rest)
    elif isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            yield from _walk(value[step], rest)
    elif isinstance(value, dict) and step in value:
        yield from _walk(value[step], rest)
