"""The client of the push provider (FCM v1 style), with PUSH_TIMEOUTS' timeout and bounded retry.

- PUSH_TIMEOUTS on: each call is bounded by `push_provider_timeout`; a 429/503 or an unreachable
  provider is retried up to `push_retry_attempts` attempts, sleeping what Retry-After asks (capped at
  `push_retry_after_cap`; asking for longer gives up at once) or a short jittered backoff. A call that
  timed out is not retried: the provider may have delivered it, and a retry could notify twice.
- off: one attempt, no bound: a slow provider holds the notification as long as it likes, as the
  reports found it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from target_system.push.tunables import PushTunables

RETRY_STATUSES = frozenset({429, 503})
BACKOFF_CAP_S = 0.5


class SendOutcome(StrEnum):
    DELIVERED = "delivered"
    UNREGISTERED = "unregistered"  # the token is dead: deactivate it
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # 5xx
    RATE_LIMITED = "rate_limited"  # 429
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"  # any other 4xx (bad request, bad key)


# The provider's trouble, not the notification's: the same send can succeed once the provider is back.
REFUSALS = frozenset(
    {SendOutcome.TIMEOUT, SendOutcome.UNAVAILABLE, SendOutcome.RATE_LIMITED, SendOutcome.UNREACHABLE}
)


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: SendOutcome
    attempts: int
    name: str | None = None
    detail: str = ""
    retry_after: float | None = None  # what the provider's Retry-After asked, in seconds

    @property
    def refused(self) -> bool:
        """The provider did not take it, for a reason that passes: worth sending again later."""
        return self.outcome in REFUSALS


def _error_code(response: httpx.Response) -> str:
    """FCM's `errorCode` from the error details, or the status name, or ''."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status") or "")


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


class ProviderClient:
    """Sends one notification to one device token; never raises for provider trouble, it reports it."""

    def __init__(self, base_url: str, tunables: PushTunables, *, hardened: bool) -> None:
        self._hardened = hardened
        self._attempts = max(1, tunables.push_retry_attempts) if hardened else 1
        self._retry_after_cap = tunables.push_retry_after_cap
        self._path = f"/v1/projects/{tunables.push_project}/messages:send"
        timeout = httpx.Timeout(tunables.push_provider_timeout) if hardened else httpx.Timeout(None)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {tunables.push_server_key}"},
            limits=httpx.Limits(max_connections=max(1, tunables.push_concurrency)),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        token: str,
        notification: dict[str, str],
        data: dict[str, str],
        *,
        on_retry: Callable[[], None] | None = None,
        retry: bool = True,
    ) -> SendResult:
        """The provider's answer, after PUSH_TIMEOUTS' retries unless `retry` is False (one attempt)."""
        body = {"message": {"token": token, "notification": notification, "data": data}}
        result = SendResult(SendOutcome.UNREACHABLE, 0)
        attempts = self._attempts if retry else 1
        for attempt in range(1, attempts + 1):
            result, wait = await self._attempt(body, attempt)
            if wait is None or attempt == attempts:
                return result
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(wait)
        return result

    async def _attempt(self, body: dict[str, Any], attempt: int) -> tuple[SendResult, float | None]:
        """The result of one call and, if it is worth retrying, how long to wait first."""
        backoff = random.uniform(0, min(BACKOFF_CAP_S, 0.05 * 2**attempt))
        try:
            response = await self._http.post(self._path, json=body)
        except httpx.TimeoutException as exc:
            return SendResult(SendOutcome.TIMEOUT, attempt, detail=type(exc).__name__), None
        except httpx.HTTPError as exc:
            return SendResult(
                SendOutcome.UNREACHABLE, attempt, detail=f"{type(exc).__name__}: {exc}"
            ), backoff
        if response.status_code == 200:
            return SendResult(SendOutcome.DELIVERED, attempt, name=str(response.json().get("name"))), None
        code = _error_code(response)
        detail = f"{response.status_code} {code}"
        if response.status_code == 404 or code == "UNREGISTERED":
            return SendResult(SendOutcome.UNREGISTERED, attempt, detail=detail), None
        if response.status_code in RETRY_STATUSES:
            outcome = SendOutcome.RATE_LIMITED if response.status_code == 429 else SendOutcome.UNAVAILABLE
            asked = _retry_after(response)
            if asked is not None and asked > self._retry_after_cap:
                detail = f"{detail}, retry after {asked}s"
                return SendResult(outcome, attempt, detail=detail, retry_after=asked), None
            wait = backoff if asked is None else asked
            return SendResult(outcome, attempt, detail=detail, retry_after=asked), wait
        if response.status_code >= 500:
            return SendResult(SendOutcome.UNAVAILABLE, attempt, detail=detail), backoff
        return SendResult(SendOutcome.REJECTED, attempt, detail=detail), None
