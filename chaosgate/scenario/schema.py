"""The JSON Schemas of scenario files, of chaos.yaml and of result.json, generated from the models and
shipped in the package: the first two for editors, the third for whoever scripts against a run's result.
`python -m chaosgate.scenario.schema` writes all three after a model changes (a test keeps the shipped
files equal to the generated ones)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chaosgate.result import RunResult
from chaosgate.scenario.models import Scenario
from chaosgate.topology import Topology

SCHEMA_FILE = "scenario.schema.json"
TOPOLOGY_SCHEMA_FILE = "chaos.schema.json"
RESULT_SCHEMA_FILE = "result.schema.json"


def _schema(model: type[BaseModel], title: str, mode: str = "validation") -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization" if mode == "serialization" else "validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def generate_schema() -> dict[str, Any]:
    """The scenario schema as the models define it today."""
    return _schema(Scenario, "chaosgate scenario")


def generate_topology_schema() -> dict[str, Any]:
    """The chaos.yaml schema as the models define it today."""
    return _schema(Topology, "chaosgate topology (chaos.yaml)")


def generate_result_schema() -> dict[str, Any]:
    """The result.json schema: what a run writes (the serialized RunResult)."""
    return _schema(RunResult, "chaosgate run result (result.json)", mode="serialization")


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def render_schema() -> str:
    return _render(generate_schema())


def render_topology_schema() -> str:
    return _render(generate_topology_schema())


def render_result_schema() -> str:
    return _render(generate_result_schema())


def _shipped(name: str) -> str:
    return resources.files("chaosgate.scenario").joinpath(name).read_text(encoding="utf-8")


def shipped_schema() -> str:
    """The scenario schema file shipped in the package (kept equal to the generated one by a test)."""
    return _shipped(SCHEMA_FILE)


def shipped_topology_schema() -> str:
    """The chaos.yaml schema file shipped in the package (kept equal to the generated one by a test)."""
    return _shipped(TOPOLOGY_SCHEMA_FILE)


def shipped_result_schema() -> str:
    """The result.json schema file shipped in the package (kept equal to the generated one by a test)."""
    return _shipped(RESULT_SCHEMA_FILE)


def main() -> None:
    """Write the three schema files beside this module."""
    folder = Path(__file__).resolve().parent
    files = (
        (SCHEMA_FILE, render_schema()),
        (TOPOLOGY_SCHEMA_FILE, render_topology_schema()),
        (RESULT_SCHEMA_FILE, render_result_schema()),
    )
    for name, text in files:
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
