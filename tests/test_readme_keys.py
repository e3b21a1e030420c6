"""The README's key reference covers every key a user can write in chaos.yaml or a scenario file:
each leaf key of the shipped JSON Schemas is a row of a README key table, or is named in the row
of a key above it, or (for the fields every request shares) in the README's request block."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SCHEMAS = ROOT / "chaosgate" / "scenario"
# A placeholder segment (`services.<name>`, `<s>`, `<w>`...) reads the same whatever its letter.
PLACEHOLDER = re.compile(r"<[^>]*>")


def key_rows(text: str) -> dict[str, str]:
    """Each key of a key table's first column (`a.b`, several per cell allowed) -> its row."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split(" | ", 1)[0]
        for key in re.findall(r"`([^`]+)`", first):
            rows[PLACEHOLDER.sub("<>", key)] = line
    return rows


def request_block(text: str) -> set[str]:
    """The keys of the README's request block (what every probe, setup, load or writer request is)."""
    start = text.index("A request (")
    block = text[text.index("```yaml", start) : text.index("```\n", text.index("```yaml", start) + 7)]
    return set(re.findall(r"^(\w+):", block, flags=re.MULTILINE)) | set(re.findall(r"`(\w+):`", block))


def leaf_paths(schema: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(dotted path, inside a request object) of every leaf key; a map's keys read `<>`."""
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], prefix: str, in_request: bool, depth: int) -> Iterator[tuple[str, bool]]:
        if depth > 8:
            return
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        for branch in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            yield from walk(branch, prefix, in_request, depth + 1)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], prefix, in_request, depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], f"{prefix}.<>", in_request, depth + 1)
        properties = node.get("properties", {})
        request = {"method", "path"} <= properties.keys()
        for key, sub in properties.items():
            path = f"{prefix}.{key}" if prefix else key
            # A key with keys below it stands for them; one without is a leaf.
            yield from list(walk(sub, path, request, depth + 1)) or [(path, request)]

    yield from walk(schema, "", False, 0)


def documented(path: str, in_request: bool, rows: dict[str, str], request: set[str]) -> bool:
    leaf = path.rsplit(".", 1)[-1]
    if path in rows:
        return True
    if in_request and leaf in request:
        return True
    # Named in the row of a key above it (`ids` in `writers.<>.read_back`'s row).
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        row = rows.get(".".join(parts[:cut]))
        if row is not None:
            return f"`{leaf}`" in row or f"{leaf}:" in row
    return False


@pytest.mark.parametrize("name", ["chaos", "scenario"])
def test_every_key_of_the_schema_is_in_the_readmes_key_reference(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    rows, request = key_rows(README), request_block(README)
    paths = sorted(set(leaf_paths(schema)))
    assert len(paths) > 30, "the schema walk found too few keys to be a check"
    missing = [path for path, in_request in paths if not documented(path, in_request, rows, request)]
    assert not missing, f"{name}.schema.json keys the README's key reference does not cover: {missing}"


def test_a_key_left_out_of_the_tables_is_named() -> None:
    rows = key_rows(README)
    rows.pop("gate.min_score", None)
    assert not documented("gate.min_score", False, rows, request_block(README))
