"""result.json has a JSON Schema shipped in the package (chaosgate/scenario/result.schema.json), kept
equal to the models, and what a run writes validates against it: users script against that file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chaosgate.result import RunResult
from chaosgate.scenario.schema import render_result_schema, shipped_result_schema

DATA_IDS = ["20261122-214145-4885", "20261122-213103-3d46", "20261201-101502-5c1a", "20261212-093000-7c3e"]


def schema() -> dict[str, Any]:
    return json.loads(shipped_result_schema())


def test_the_shipped_result_schema_matches_the_models() -> None:
    assert shipped_result_schema() == render_result_schema()
    assert {"run_id", "profile", "runtime", "backends"} <= set(schema()["required"])


def written(run_id: str) -> dict[str, Any]:
    """A stored run's result.json (tests/report/data), as a run writes it today."""
    path = Path(__file__).parent / "data" / run_id / "result.json"
    result = RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    return dict(json.loads(result.model_dump_json(indent=2)))


@pytest.mark.parametrize("run_id", DATA_IDS)
def test_results_as_a_run_writes_them_validate(run_id: str) -> None:
    jsonschema.validate(written(run_id), schema())


def test_a_result_with_a_wrong_field_does_not() -> None:
    result = written(DATA_IDS[-1])
    result["scenarios"][0]["score"]["cascade_label"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError, match="MAYBE"):
        jsonschema.validate(result, schema())
