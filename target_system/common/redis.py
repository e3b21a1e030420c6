"""Redis as every service uses it: per-call timeouts and bounded jittered retries behind switches.

- Every profile: connect and socket (read/write) timeouts. The hardening verification report found them
  in the unfixed Redis client (`DialTimeout`/`ReadTimeout`/`WriteTimeout: cfg.Timeout`), so they are
  not a fix: with STORE_TIMEOUTS off they are `redis_timeout` (3 s, go-redis's default read timeout;
  the reports do not give `cfg.Timeout`'s value) and no overall per-call bound applies.
- STORE_TIMEOUTS on: connect/socket timeouts and an overall per-call timeout of `store_timeout`.
- REDIS_RETRY on: up to `redis_retry_attempts` attempts with exponential backoff and full jitter
  (tenacity), capped at `redis_retry_cap` per sleep and at `store_timeout` in total (first attempt
  included, so a call that timed out is not retried), counted in
  `redis_retry_total{service,op}`.
- Any connection failure or timeout surfaces as `RedisUnavailable` (503) after the last attempt.

Responses are decoded to `str` (`decode_responses=True`). redis-py's own retry (3 attempts with up to
10 s of backoff by default since redis-py 6) is switched off so that the only retries are the ones the
switch controls: baseline must behave like the reports found it (they found no Redis retry, although
go-redis itself retries 3 times by default; see the README's differences from the reports).

`fail_closed(exc)` is the answer of paths whose fallback switch is off: the unfixed repositories
returned the Redis error to the handler, which answered 500 ("all protected routes return 500").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.wait import wait_random_exponential

from target_system.common.errors import ServiceError, Unavailable
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.switches import Switch

T = TypeVar("T")

# Failures worth retrying and worth calling "Redis is unavailable": the server is unreachable or slow.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    TimeoutError,
    OSError,
)


class _Default:
    """Marker for "use the configured per-call timeout"."""


_DEFAULT = _Default()


class RedisUnavailable(Unavailable):
    """Redis did not answer (refused, reset or too slow)."""

    CODE = "redis_unavailable"
    MESSAGE = "redis is unavailable"


def fail_closed(exc: RedisUnavailable) -> ServiceError:
    """The 500 a Redis failure becomes where its fix (REDIS_FALLBACK, PRESENCE_FAIL_OPEN) is off."""
    return ServiceError(500, "internal_error", f"internal error: {exc.message}"[:300])


class ResilientRedis:
    """A `redis.asyncio.Redis` whose calls follow the STORE_TIMEOUTS and REDIS_RETRY switches."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        *,
        url: str | None = None,
        name: str = "redis",
    ) -> None:
        tun = settings.tunables
        self.name = name
        self._service = metrics.service
        self._timeout: float | None = (
            tun.store_timeout if settings.switches.on(Switch.STORE_TIMEOUTS) else None
        )
        socket_timeout = self._timeout if self._timeout is not None else tun.redis_timeout
        self._retry = settings.switches.on(Switch.REDIS_RETRY)
        self._attempts = max(1, tun.redis_retry_attempts)
        self._retry_cap = tun.redis_retry_cap
        self._retry_budget = tun.store_timeout
        self._down_hold = tun.redis_down_hold
        self._down_until = 0.0
        self._retries = metrics.counter(
            "redis_retry_total", "Redis calls retried after a failure", ("service", "op")
        )
        self._failures = metrics.counter(
            "redis_unavailable_total", "Redis calls that failed after every attempt", ("service", "op")
        )
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url or settings.redis_url,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )

    @property
    def recently_down(self) -> bool:
        """Whether a call failed in the last `redis_down_hold` seconds (fallback paths skip Redis then)."""
        return time.monotonic() < self._down_until

    async def call(
        self,
        op: str,
        fn: Callable[[aioredis.Redis], Awaitable[T]],
        *,
        timeout: float | _Default | None = _DEFAULT,
        retry: bool = True,
    ) -> T:
        """Run `fn(client)` under the switches; `op` names it in metrics and errors.

        `timeout` overrides the per-call bound (None = wait forever); `retry=False` makes one attempt.
        """
        bound = self._timeout if isinstance(timeout, _Default) else timeout
        started = time.monotonic()
        try:
            return await self._attempt(fn, bound)
        except TRANSIENT_ERRORS as first:
            # The budget covers the first attempt too: a call that already timed out is not retried.
            remaining = self._retry_budget - (time.monotonic() - started)
            if not (self._retry and retry and self._attempts > 1 and remaining > 0):
                raise self._unavailable(op, first) from first
        # Fast path failed: the remaining attempts go through tenacity's jittered backoff.
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts - 1) | stop_after_delay(remaining),
                wait=wait_random_exponential(multiplier=self._retry_cap / 8, max=self._retry_cap),
                retry=retry_if_exception_type(TRANSIENT_ERRORS),
                before=self._count_retry(op),
                reraise=True,
            ):
                with attempt:
                    return await self._attempt(fn, bound)
        except TRANSIENT_ERRORS as last:
            raise self._unavailable(op, last) from last
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _count_retry(self, op: str) -> Callable[[RetryCallState], None]:
        counter = self._retries.labels(self._service, op)

        def before(_: RetryCallState) -> None:
            counter.inc()

        return before

    async def _attempt(self, fn: Callable[[aioredis.Redis], Awaitable[T]], bound: float | None) -> T:
        try:
            if bound is None:
                return await fn(self.client)
            async with asyncio.timeout(bound):
                return await fn(self.client)
        except RuntimeError as exc:
            # uvloop reports a write to a connection the peer reset as RuntimeError ("handler is
            # closed") instead of an OSError; it is the same lost connection, so retry it as one.
            if "closed" not in str(exc):
                raise
            raise rexc.ConnectionError(str(exc)) from exc

    def _unavailable(self, op: str, exc: BaseException) -> RedisUnavailable:
        self._down_until = time.monotonic() + self._down_hold
        self._failures.labels(self._service, op).inc()
        detail = str(exc) or type(exc).__name__
        return RedisUnavailable(f"{self.name} {op} failed: {detail}"[:300])

    # Convenience wrappers for the commands the services use most.
    async def get(self, key: str) -> str | None:
        value = await self.call("get", lambda r: r.get(key))
        return value if value is None or isinstance(value, str) else value.decode()

    async def set(self, key: str, value: str, *, ex: int | None = None) -> None:
        await self.call("set", lambda r: r.set(key, value, ex=ex))

    async def delete(self, *keys: str) -> int:
        return int(await self.call("delete", lambda r: r.delete(*keys)))

    async def exists(self, *keys: str) -> int:
        return int(await self.call("exists", lambda r: r.exists(*keys)))

    async def incr(self, key: str) -> int:
        return int(await self.call("incr", lambda r: r.incr(key)))

    async def expire(self, key: str, seconds: int) -> None:
        await self.call("expire", lambda r: r.expire(key, seconds))

    async def ping(self) -> None:
        """One PING under the switches; the ready check of services that need Redis."""
        await self.call("ping", lambda r: r.ping())

    async def pipeline(
        self, op: str, build: Callable[[Pipeline], object], *, transaction: bool = False
    ) -> list[Any]:
        """Queue commands with `build(pipe)` and run them in one round trip."""

        async def run(r: aioredis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=transaction)
            build(pipe)
            return list(await pipe.execute())

        return await self.call(op, run)

    async def publish(self, channel: str, message: str) -> int:
        """Publish to a pub/sub channel; returns how many subscribers got it."""
        return int(await self.call("publish", lambda r: r.publish(channel, message)))

    async def subscribe(self, *channels: str, poll_interval: float = 1.0) -> AsyncIterator[tuple[str, str]]:
        """Yield `(channel, data)` for each message on `channels` until the caller stops iterating.

        Subscribing follows the switches; a lost connection while listening raises `RedisUnavailable`
        (the chat service switches to polling then). The loop wakes every `poll_interval` seconds, so a
        cancelled consumer is never stuck in a blocking read.
        """
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            await self.call("subscribe", lambda _: pubsub.subscribe(*channels))
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=poll_interval)
                except TRANSIENT_ERRORS as exc:
                    raise self._unavailable("listen", exc) from exc
                if message is not None and message.get("type") in ("message", "pmessage"):
                    yield str(message["channel"]), str(message["data"])
        finally:
            with suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        with suppress(Exception):
            await self.client.aclose()
