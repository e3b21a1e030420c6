"""Requests declared in chaos.yaml (probe steps, setup, ledger writes and read-backs, load): their
models, how one is rendered for sending and what it captures (chaosgate.config checks them when
chaos.yaml loads).

Pure data and functions: imported by the topology and by the Locust processes that run declared load,
so nothing here imports the harness, httpx or Locust.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue

from chaosgate.probes.jsonpath import JsonPath
from chaosgate.probes.template import NAME, UUID, names_in, render_json, render_text

Status = Annotated[int, Field(ge=100, le=599)]
VarName = Annotated[str, Field(pattern=f"^{NAME}$", max_length=64)]
BUILTINS = frozenset({UUID})  # in every declared request


def _json_path(value: Any) -> JsonPath:
    if isinstance(value, JsonPath):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a JSONPath text such as $.id or $.items[*].id")
    return JsonPath.parse(value)


JsonPathField = Annotated[
    JsonPath,
    PlainValidator(_json_path),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": r"^\$", "description": "$.a.b, $.a[0].b, $.items[*].id"}),
]


class _Strict(BaseModel):
    # populate_by_name: a dump (field names) validates again, as with_port_offset and portable_dump need.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass(frozen=True)
class Prepared:
    """One request ready to send: its templates rendered."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    content: str | None = None
    has_json: bool = False


class HttpRequest(_Strict):
    """One HTTP request to the gateway. `${name}` templates in the path, header values, the raw body
    and the string values of the JSON body take captured values and built-ins (`${uuid}`)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = Field(pattern=r"^/", max_length=2048)
    headers: dict[Annotated[str, Field(min_length=1, max_length=128)], str] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")  # sent as JSON
    body: str | None = Field(None, max_length=1_000_000)  # sent as it is

    @model_validator(mode="before")
    @classmethod
    def _structured_body_is_json(cls, data: Any) -> Any:
        # Before `json:` existed, `body: {...}` was sent as JSON: it still is.
        if isinstance(data, dict) and "body" in data and not isinstance(data["body"], str | None):
            if "json" in data or "json_body" in data:
                raise ValueError("give `json:` (a JSON body) or `body:` (text), not both")
            data = {**{k: v for k, v in data.items() if k != "body"}, "json": data["body"]}
        return data

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give `json:` (a JSON body) or `body:` (text), not both")
        return self

    def variables(self) -> set[str]:
        """The `${name}`s this request needs."""
        used = set(names_in(self.path)) | set(names_in(self.json_body)) | set(names_in(self.body or ""))
        for value in self.headers.values():
            used |= set(names_in(value))
        return used

    def prepare(self, variables: Mapping[str, Any]) -> Prepared:
        """Rendered with `variables` plus a fresh `${uuid}`; TemplateError names a missing value.
        Values put in the path are URL-quoted (an id with a slash stays one path segment)."""
        values = {**variables, UUID: str(uuid.uuid4())}
        return Prepared(
            method=self.method,
            path=render_text(self.path, values, quote=lambda text: quote(text, safe="")),
            headers={key: render_text(value, values) for key, value in self.headers.items()},
            json=render_json(self.json_body, values) if self.json_body is not None else None,
            content=render_text(self.body, values) if self.body is not None else None,
            has_json=self.json_body is not None,
        )


def statuses_match(expected: Iterable[int], status: int) -> bool:
    """`expected` lists the statuses that count; none listed: any 2xx."""
    listed = frozenset(expected)
    return status in listed if listed else 200 <= status < 300


class RequestStep(HttpRequest):
    """A request whose answer is checked (`expect_status`, default any 2xx) and may capture values
    for later requests: `capture: {order_id: $.id}`."""

    expect_status: list[Status] = Field(default_factory=list, max_length=20)
    capture: dict[VarName, JsonPathField] = Field(default_factory=dict, max_length=20)

    def expects(self, status: int) -> bool:
        return statuses_match(self.expect_status, status)

    def captured(self, answer: Any) -> dict[str, Any]:
        """The captured values out of a JSON answer; JsonPathError names a path that found nothing."""
        return {name: path.one(answer) for name, path in self.capture.items()}


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class _OneOrManySchema:
    """In the JSON Schema for editors: one step, or a list of them, as the model takes both."""

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        many = handler(schema)
        return {"anyOf": [many["items"], many]}


# A feature's probe: one request, or steps run in order (a later one may use what an earlier captured).
ProbeSteps = Annotated[
    list[RequestStep], BeforeValidator(_one_or_many), Field(min_length=1, max_length=20), _OneOrManySchema
]


class LoadRequest(RequestStep):
    """One weighted entry of declared load: an arrival draws one of these by weight."""

    weight: int = Field(1, ge=1, le=10_000)
    name: str | None = Field(None, min_length=1, max_length=200)  # Locust's name for it (default: path)

    @property
    def label(self) -> str:
        return self.name or self.path


class WriteRequest(HttpRequest):
    """A ledger write: `${write_id}` is the unique id; acknowledged when the status is listed
    (`acknowledged`, default any 2xx)."""

    acknowledged: list[Status] = Field(default_factory=list, max_length=20)

    def acknowledges(self, status: int) -> bool:
        return statuses_match(self.acknowledged, status)


class ReadBack(HttpRequest):
    """How a writer's ids are read back after recovery: a listing (`ids: $.items[*].id`, one request)
    or one request per write id (`path: /orders/${write_id}`, `found: [200]`)."""

    ids: JsonPathField | None = None
    found: list[Status] | None = Field(None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _one_form(self) -> ReadBack:
        if (self.ids is None) == (self.found is None):
            raise ValueError(
                "read_back takes `ids:` (a listing: the JSONPath of every id in the answer, e.g. "
                "$.items[*].id) or `found:` (one request per write id, e.g. path /orders/${write_id} "
                "and found: [200]), exactly one"
            )
        return self

    @property
    def per_item(self) -> bool:
        return self.found is not None
