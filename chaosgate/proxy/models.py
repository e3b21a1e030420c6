"""The proxy API's data: typed models of proxy and toxic JSON, their validation, and the API error."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic import ValidationError as PydanticValidationError

from chaosgate.toxics import Stream, ToxicType, api_attributes

LOOPBACK_HOST = "127.0.0.1"


class ApiError(Exception):
    """A request the API refuses: an HTTP status and a message, rendered as Toxiproxy's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


@dataclass(frozen=True)
class Address:
    """A host and port to listen on or connect to; port 0 means "any free port"."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback IP literal (127.0.0.0/8, ::1): names that cannot be rebound to elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, *, field: str, default_host: str = LOOPBACK_HOST) -> Address:
    """Parse "host:port", ":port", "port" or "[v6]:port"; a missing host means `default_host`."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1 or ":" not in text:
        host, _, port_text = text.rpartition(":")
    else:
        raise bad_request(f"{field}: {text!r} is not host:port (write an IPv6 host as [::1]:port)")
    host = host or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise bad_request(f"{field}: {text!r} has no valid port (0-65535)")
    return Address(host, int(port_text))


def _first_problem(exc: PydanticValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


class ProxyInput(BaseModel):
    """A proxy as POST /proxies and /populate accept it (strict: no coercion of wrong types)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    name: StrictStr = ""
    listen: StrictStr = ""
    upstream: StrictStr = ""
    enabled: StrictBool = True

    @classmethod
    def parse(cls, data: Any) -> ProxyInput:
        if not isinstance(data, dict):
            raise bad_request("bad request body: a proxy must be a JSON object")
        try:
            proxy = cls.model_validate(data)
        except PydanticValidationError as exc:
            raise bad_request(f"bad request body: {_first_problem(exc)}") from exc
        if not proxy.name:
            raise bad_request("missing required field: name")
        if not proxy.upstream:
            raise bad_request("missing required field: upstream")
        return proxy


class ProxyPatch(BaseModel):
    """A partial proxy update (POST/PATCH /proxies/{name}): only the fields given change."""

    model_config = ConfigDict(strict=True, extra="ignore")

    listen: StrictStr | None = None
    upstream: StrictStr | None = None
    enabled: StrictBool | None = None

    @classmethod
    def parse(cls, data: Any) -> ProxyPatch:
        if not isinstance(data, dict):
            raise bad_request("bad request body: a proxy update must be a JSON object")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise bad_request(f"bad request body: {_first_problem(exc)}") from exc


class ToxicInput(BaseModel):
    """A toxic as POST /proxies/{name}/toxics accepts it; attributes are checked by the toxic's type."""

    model_config = ConfigDict(strict=True, extra="ignore")

    name: StrictStr = ""
    type: StrictStr = ""
    stream: StrictStr = Stream.DOWNSTREAM.value
    toxicity: float = Field(default=1.0)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> ToxicInput:
        if not isinstance(data, dict):
            raise bad_request("bad request body: a toxic must be a JSON object")
        if data.get("attributes") is None:
            data = {**data, "attributes": {}}
        try:
            toxic = cls.model_validate(data)
        except PydanticValidationError as exc:
            raise bad_request(f"bad request body: {_first_problem(exc)}") from exc
        check_toxicity(toxic.toxicity)
        parse_stream(toxic.stream)
        return toxic


class ToxicPatch(BaseModel):
    """A toxic update: toxicity replaces, attributes merge into the current ones."""

    model_config = ConfigDict(strict=True, extra="ignore")

    toxicity: float | None = None
    attributes: dict[str, Any] | None = None

    @classmethod
    def parse(cls, data: Any) -> ToxicPatch:
        if not isinstance(data, dict):
            raise bad_request("bad request body: a toxic update must be a JSON object")
        try:
            patch = cls.model_validate(data)
        except PydanticValidationError as exc:
            raise bad_request(f"bad request body: {_first_problem(exc)}") from exc
        if patch.toxicity is not None:
            check_toxicity(patch.toxicity)
        return patch


def check_toxicity(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise bad_request(f"toxicity must be between 0 and 1, got {value}")


def parse_stream(text: str) -> Stream:
    try:
        return Stream(text)
    except ValueError:
        message = f"stream was invalid, can be either upstream or downstream (got {text!r})"
        raise bad_request(message) from None


def parse_attributes(kind: ToxicType, data: Mapping[str, Any]) -> dict[str, int]:
    """A toxic's attributes as its type takes them (chaosgate.toxics: strict ints, 0 unless given)."""
    try:
        return api_attributes(kind).model_validate(dict(data)).model_dump()
    except PydanticValidationError as exc:
        raise bad_request(f"attributes.{_first_problem(exc)}") from exc
