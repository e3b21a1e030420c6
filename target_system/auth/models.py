"""Request and response bodies of the auth API."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from target_system.common.text import OneLine

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, StringConstraints(max_length=320), OneLine, AfterValidator(_email)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256), OneLine]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), OneLine]


class _Body(BaseModel):
    # strict: a number where a string belongs is a 422, not silently coerced
    model_config = ConfigDict(extra="ignore", strict=True)


class RegisterIn(_Body):
    email: Email
    password: Password
    display_name: DisplayName


class LoginIn(_Body):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256), OneLine]


class RefreshIn(_Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512), OneLine]


class VerifyEmailIn(_Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=128), OneLine]


class UserOut(BaseModel):
    id: str
    email: str
    display_name: str
    email_verified: bool = False


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user_id: str
