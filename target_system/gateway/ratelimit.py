"""Fixed-window rate limiting in Redis per client key, failing open.

The client key is the user of a bearer token that verifies (`ClientKeys`), else the client IP. One
Redis round trip per request (INCR; EXPIRE only when a window starts). If Redis errors, or is slower than
`rate_limit_check_timeout` with STORE_TIMEOUTS on, the request passes and
`rate_limit_fail_open_total` counts: a rate limiter must never take the front door down. After such
a failure the hardened gateway skips the check for `redis_down_hold` seconds (still failing open),
so a sick Redis costs one slow check per period rather than one per request. In baseline
(STORE_TIMEOUTS off) the check waits for Redis like everything else did in the reports.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from target_system.common.errors import RateLimited, Unauthorized
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import RedisUnavailable, ResilientRedis
from target_system.common.tokens import CachingTokenCodec, bearer_token
from target_system.settings import Settings
from target_system.switches import Switch


class ClientKeys:
    """Who a request counts against: the user of a token that verifies, else the client's address.

    Only a verified token may name the key: keyed on whatever the `Authorization` header held, a
    client sending a fresh random bearer with every request was never limited. The gateway verifies
    the signature and expiry with the stack's shared secret (claims cached per token); revocation is
    the backends' business, and a revoked token still counts against its user.
    """

    def __init__(self, settings: Settings) -> None:
        self._codec = CachingTokenCodec(settings)

    def key_of(self, conn: HTTPConnection) -> str:
        token = bearer_token(conn)
        if token is not None:
            try:
                return "user:" + self._codec.verify(token).user_id
            except Unauthorized:
                pass  # forged, expired or malformed: it names nobody
        client = conn.client
        return "ip:" + (client.host if client else "unknown")


class RateLimiter:
    """`check(conn)` raises `RateLimited` (429) past the limit; any Redis trouble lets the request pass."""

    def __init__(self, settings: Settings, redis: ResilientRedis, metrics: ServiceMetrics) -> None:
        tun = settings.tunables
        self.limit = tun.rate_limit
        self.window = max(1, tun.rate_limit_window)
        self._bounded = settings.switches.on(Switch.STORE_TIMEOUTS)
        self._timeout: float | None = tun.rate_limit_check_timeout if self._bounded else None
        self._redis = redis
        self._keys = ClientKeys(settings)
        self._skip_for = tun.redis_down_hold
        self._skip_until = 0.0
        self._fail_open = metrics.counter(
            "rate_limit_fail_open_total",
            "Requests let through because the rate-limit check failed",
            ("service",),
        ).labels(metrics.service)
        self._limited = metrics.counter(
            "rate_limited_total", "Requests refused by the rate limiter", ("service",)
        ).labels(metrics.service)

    async def _count(self, client: Redis, key: str) -> int:
        count = int(await client.incr(key))
        if count == 1:  # the window's first request sets its expiry: one round trip for all the others
            await client.expire(key, self.window + 1)
        return count

    async def check(self, conn: HTTPConnection) -> None:
        if self._bounded and time.monotonic() < self._skip_until:
            self._fail_open.inc()  # the last check found Redis slow or down: do not wait on it again yet
            return
        window_index = int(time.time()) // self.window
        key = f"ratelimit:{self._keys.key_of(conn)}:{window_index}"
        count_call = self._redis.call("rate_limit", lambda r: self._count(r, key), retry=False)
        try:
            if self._timeout is None:
                count = await count_call
            else:
                # Shielded: a check that runs out of time is not cancelled mid-command (which would make
                # redis-py drop the connection and reconnect); it finishes in the background, bounded by the
                # client's socket timeout, while this request goes on.
                pending = asyncio.ensure_future(count_call)
                pending.add_done_callback(_consume_result)
                count = await asyncio.wait_for(asyncio.shield(pending), self._timeout)
        except (RedisUnavailable, TimeoutError):
            self._fail_open.inc()
            self._skip_until = time.monotonic() + self._skip_for
            return
        if count > self.limit:
            self._limited.inc()
            retry_after = self.window - int(time.time()) % self.window
            raise RateLimited(
                f"more than {self.limit} requests in {self.window}s",
                headers={"Retry-After": str(retry_after)},
            )


def _consume_result(task: asyncio.Future[Any]) -> None:
    """Retrieve a background check's outcome so a late failure is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()
