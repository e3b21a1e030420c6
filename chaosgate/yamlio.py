"""YAML input that remembers where each key was written, so errors can name file, line and key.

Every file is read as if it were hostile: bounded in size, nesting and alias-expanded size, plain
YAML only (no tags beyond the standard text/number/boolean/null/list/mapping ones, no complex or
merge keys), and every way it can be wrong ends in a ValidationError naming file and line, never
in another exception.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from chaosgate.errors import Location, ValidationError
from chaosgate.yaml_builder import MAX_DEPTH, MAX_NODES, DocumentBuilder, EventSource
from chaosgate.yaml_document import KeyPath, YamlDocument, dotted
from chaosgate.yaml_located import MAX_PROBLEMS, located_error

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_PROBLEMS",
    "KeyPath",
    "YamlDocument",
    "dotted",
    "load_yaml",
    "located_error",
    "parse_yaml",
    "validate",
]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

# A scenario is about 1 kB and chaos.yaml about 10 kB: a megabyte is no hand-written file, and the
# limit keeps the parse of any file well under a second.
MAX_FILE_BYTES = 1_000_000

# What YAML allows in a stream (yaml.reader); anything else is a control character or not text.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# libyaml when it is installed: about ten times faster than the pure-Python parser. Its marks carry
# the same 0-based lines.
_EVENT_SOURCE: EventSource = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


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
    data, lines = DocumentBuilder(path).build(text, _EVENT_SOURCE)
    return YamlDocument(path, data, lines)


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


def validate(doc: YamlDocument, model: type[ModelT], *, context: dict[str, Any] | None = None) -> ModelT:
    """Validate a document against a pydantic model; every error becomes one located problem."""
    try:
        return model.model_validate(doc.data, context=context)
    except pydantic.ValidationError as exc:
        raise located_error(doc, exc, model) from None
