"""Device tokens in Redis: who registered which token, on which platform, and whether it still works.

    push:device:<token>        hash {user_id, platform, active "1"|"0", registered_at}
    push:user:<user_id>        set of the user's tokens (active or not)

A token belongs to the user who registered it first, until they remove it: registering it from
another account is refused (409 `device_token_taken`), or anyone who learnt a token could divert its
owner's notifications to their own account (and off the owner's list). A phone that changed hands gets
a fresh token from its provider anyway. Registering one's own token again refreshes it and reactivates
it if the provider had called it invalid.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from target_system.common.errors import Conflict, NotFound
from target_system.common.redis import ResilientRedis
from target_system.common.text import OneLine

# KEYS: device hash, owner's set; ARGV: user id, platform, registered_at, token. Returns the other
# owner's id when the token is theirs (nothing written), else nil.
_REGISTER = """
local owner = redis.call('HGET', KEYS[1], 'user_id')
if owner and owner ~= ARGV[1] then
  return owner
end
redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'platform', ARGV[2], 'active', '1', 'registered_at', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return false
"""


def device_key(token: str) -> str:
    return f"push:device:{token}"


def user_key(user_id: str) -> str:
    return f"push:user:{user_id}"


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    token: Annotated[str, StringConstraints(min_length=1, max_length=4096), OneLine]
    platform: Literal["android", "ios", "web"]


@dataclass(frozen=True, slots=True)
class Device:
    token: str
    user_id: str
    platform: str
    active: bool
    registered_at: float

    @classmethod
    def from_hash(cls, token: str, fields: dict[str, Any]) -> Device | None:
        if not fields or "user_id" not in fields:
            return None
        return cls(
            token=token,
            user_id=str(fields["user_id"]),
            platform=str(fields.get("platform", "")),
            active=fields.get("active") == "1",
            registered_at=float(fields.get("registered_at") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "platform": self.platform,
            "active": self.active,
            "registered_at": self.registered_at,
        }


class DeviceRegistry:
    """Registration, removal and lookup of device tokens; Redis errors surface as 503 (RedisUnavailable)."""

    def __init__(self, redis: ResilientRedis) -> None:
        self._redis = redis

    async def register(self, user_id: str, body: DeviceIn) -> Device:
        """Register (or refresh) the caller's token; 409 if another account owns it."""
        device = Device(body.token, user_id, body.platform, True, time.time())
        keys = (device_key(body.token), user_key(user_id))
        args = (user_id, body.platform, str(device.registered_at), body.token)
        # One script: the ownership check and the write cannot be split by a concurrent registration.
        owner = await self._redis.call("device_register", lambda r: r.eval(_REGISTER, 2, *keys, *args))
        if owner is not None:
            raise Conflict("this device token is registered to another account", code="device_token_taken")
        return device

    async def unregister(self, user_id: str, token: str) -> None:
        owner = await self._redis.call("device_owner", lambda r: r.hget(device_key(token), "user_id"))
        if owner != user_id:
            raise NotFound("no such device of yours", code="device_not_found")
        await self._redis.pipeline(
            "device_unregister",
            lambda pipe: (pipe.delete(device_key(token)), pipe.srem(user_key(user_id), token)),
            transaction=True,
        )

    async def of_users(self, user_ids: Iterable[str]) -> list[Device]:
        """Every device of these users (active or not), in two round trips."""
        users = list(user_ids)
        if not users:
            return []
        sets = await self._redis.pipeline(
            "device_sets", lambda pipe: [pipe.smembers(user_key(u)) for u in users]
        )
        owned = [
            (user, str(token)) for user, tokens in zip(users, sets, strict=True) for token in sorted(tokens)
        ]
        if not owned:
            return []
        hashes = await self._redis.pipeline(
            "device_fields", lambda pipe: [pipe.hgetall(device_key(token)) for _, token in owned]
        )
        devices = [Device.from_hash(token, fields) for (_, token), fields in zip(owned, hashes, strict=True)]
        # A token whose hash is gone, or names another owner (stored before owners were enforced): skip it.
        return [d for (user, _), d in zip(owned, devices, strict=True) if d is not None and d.user_id == user]

    async def deactivate(self, token: str) -> bool:
        """Mark a token the provider called invalid; False if it is unknown (or already inactive)."""
        fields = await self._redis.call("device_get", lambda r: r.hgetall(device_key(token)))
        if not fields or fields.get("active") != "1":
            return False
        await self._redis.call("device_deactivate", lambda r: r.hset(device_key(token), "active", "0"))
        return True
