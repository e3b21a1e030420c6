"""The JSON Schema of scenario files, generated from the models and shipped in the package for editors."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from chaosgate.scenario.models import Scenario

SCHEMA_FILE = "scenario.schema.json"


def generate_schema() -> dict[str, Any]:
    """The schema as the models define it today."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chaosgate scenario"
    return schema


def render_schema() -> str:
    return json.dumps(generate_schema(), indent=2, sort_keys=True) + "\n"


def shipped_schema() -> str:
    """The schema file shipped in the package (kept equal to the generated one by a test)."""
    return resources.files("chaosgate.scenario").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
