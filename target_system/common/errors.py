"""Errors a SecureConnect service answers with, each rendered as `{"error": {"code", "message"}}`.

ServiceError (any status)
├── BadRequest       400  the request is malformed
├── Unauthorized     401  no valid credentials
├── Forbidden        403  valid credentials, not allowed
├── NotFound         404  no such thing
├── Conflict         409  it already exists
├── TooLarge         413  the body is too big
├── RateLimited      429  slow down (also: account locked)
├── Unavailable      503  a dependency is down or saturated: a clean refusal
└── GatewayTimeout   504  the request (or a backend) took too long
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.responses import JSONResponse


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers or {}))


class ServiceError(Exception):
    """A failure the service answers with `status` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    def to_response(self) -> JSONResponse:
        """The JSON answer for this error."""
        return error_response(self.status, self.code, self.message, self.headers)


class _StatusError(ServiceError):
    """A ServiceError whose status is fixed by its class."""

    STATUS: ClassVar[int] = 500
    CODE: ClassVar[str] = "internal_error"
    MESSAGE: ClassVar[str] = "internal error"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ):
        super().__init__(self.STATUS, code or self.CODE, message or self.MESSAGE, headers=headers)


class BadRequest(_StatusError):
    STATUS, CODE, MESSAGE = 400, "bad_request", "bad request"


class Unauthorized(_StatusError):
    STATUS, CODE, MESSAGE = 401, "unauthorized", "missing or invalid credentials"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ):
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer", **(headers or {})})


class Forbidden(_StatusError):
    STATUS, CODE, MESSAGE = 403, "forbidden", "forbidden"


class NotFound(_StatusError):
    STATUS, CODE, MESSAGE = 404, "not_found", "not found"


class Conflict(_StatusError):
    STATUS, CODE, MESSAGE = 409, "conflict", "already exists"


class TooLarge(_StatusError):
    STATUS, CODE, MESSAGE = 413, "too_large", "request body too large"


class RateLimited(_StatusError):
    STATUS, CODE, MESSAGE = 429, "rate_limited", "too many requests"


class BadGateway(_StatusError):
    STATUS, CODE, MESSAGE = 502, "bad_gateway", "bad gateway"


class Unavailable(_StatusError):
    STATUS, CODE, MESSAGE = 503, "unavailable", "a dependency is unavailable"


class GatewayTimeout(_StatusError):
    STATUS, CODE, MESSAGE = 504, "timeout", "timed out"
