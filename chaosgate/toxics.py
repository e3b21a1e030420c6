"""One toxic model, shared by scenario validation, the fault proxy and its client: Toxiproxy's toxic types,
the two streams, each type's attributes (unit, Toxiproxy's default, the range a scenario may use) and a
toxic as Toxiproxy's HTTP API shows it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model


class ToxicType(StrEnum):
    """Every toxic type, named as Toxiproxy names them."""

    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"


class Stream(StrEnum):
    """Which way a toxic acts: downstream is server→client, upstream is client→server."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclass(frozen=True)
class ToxicAttribute:
    """One attribute of a toxic as Toxiproxy documents it: its unit (its default is 0, as Toxiproxy's),
    and the range a scenario may use."""

    unit: str
    maximum: int
    minimum: int = 0
    required: bool = False  # in a scenario (the API takes the default)


_TEN_MINUTES_MS = 600_000  # longer than any probe waits: a longer delay tests nothing more

# Toxiproxy's toxics and their attributes. Where Toxiproxy's default would make the toxic a no-op in a
# scenario (latency 0 ms, bandwidth 0 = unlimited, slow_close 0 ms, slices of 0 bytes), the attribute is
# required there, and so is it where the default is a surprise (timeout 0 holds connections forever).
ATTRIBUTES: Mapping[ToxicType, Mapping[str, ToxicAttribute]] = {
    ToxicType.LATENCY: {
        "latency": ToxicAttribute("ms", _TEN_MINUTES_MS, required=True),
        "jitter": ToxicAttribute("ms", _TEN_MINUTES_MS),
    },
    ToxicType.BANDWIDTH: {"rate": ToxicAttribute("KB/s", 10_000_000, minimum=1, required=True)},
    ToxicType.SLOW_CLOSE: {"delay": ToxicAttribute("ms", _TEN_MINUTES_MS, minimum=1, required=True)},
    ToxicType.TIMEOUT: {"timeout": ToxicAttribute("ms", _TEN_MINUTES_MS, required=True)},  # 0: never close
    ToxicType.RESET_PEER: {"timeout": ToxicAttribute("ms", _TEN_MINUTES_MS, required=True)},  # 0: at once
    ToxicType.SLICER: {
        "average_size": ToxicAttribute("bytes", 1 << 20, minimum=1, required=True),
        "size_variation": ToxicAttribute("bytes", 1 << 20),
        "delay": ToxicAttribute("µs", 60_000_000),
    },
    ToxicType.LIMIT_DATA: {"bytes": ToxicAttribute("bytes", 1 << 30, required=True)},
}


class _ApiAttributes(BaseModel):
    """As Toxiproxy's API takes attributes: strict non-negative integers, 0 unless given, unknown keys
    ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


@functools.cache
def api_attributes(kind: ToxicType) -> type[BaseModel]:
    """The model the proxy's API validates a toxic's attributes with, made from ATTRIBUTES."""
    fields: dict[str, Any] = {name: (StrictInt, Field(default=0, ge=0)) for name in ATTRIBUTES[kind]}
    return create_model(f"{kind.value.title().replace('_', '')}Attributes", __base__=_ApiAttributes, **fields)


@dataclass(frozen=True)
class ToxicState:
    """A toxic as Toxiproxy's API shows it (its type a string: a real Toxiproxy may have custom ones)."""

    name: str
    type: str
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = 1.0
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream.value,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicState:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=Stream(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )
