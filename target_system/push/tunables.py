"""Push's own numbers, each overridable by `SC_<NAME>` (durations in seconds).

| env | default | meaning |
| --- | --- | --- |
| SC_PUSH_SERVER_KEY | secureconnect-push-server-key | the provider's server key (Bearer) |
| SC_PUSH_PROJECT | secureconnect | the provider project in the send path |
| SC_PUSH_PROVIDER_TIMEOUT | 2.0 | bound on one provider call (PUSH_TIMEOUTS) |
| SC_PUSH_RETRY_ATTEMPTS | 3 | attempts per notification on 429/503/unreachable (PUSH_TIMEOUTS) |
| SC_PUSH_RETRY_AFTER_CAP | 2.0 | longest Retry-After honoured; a longer one gives up (PUSH_TIMEOUTS) |
| SC_PUSH_CONCURRENCY | 64 | provider calls in flight at most |
| SC_PUSH_OUTBOX_BACKOFF_BASE | 0.25 | first pause after the provider refused an outbox send (PUSH_OUTBOX) |
| SC_PUSH_OUTBOX_BACKOFF_CAP | 2.0 | longest pause between outbox sends while the provider refuses them |
| SC_PUSH_OUTBOX_MAX_AGE | 3600.0 | a notification still refused this long after it was kept is dropped |
| SC_PUSH_OUTBOX_MAX_DEPTH | 100000 | notifications kept at most; refused ones beyond it are dropped |
| SC_PUSH_OUTBOX_BATCH | 100 | kept notifications read per round once the provider answers |
| SC_PUSH_OUTBOX_CONCURRENCY | 16 | outbox sends in flight at most while it drains |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PushTunables:
    push_server_key: str = "secureconnect-push-server-key"
    push_project: str = "secureconnect"
    push_provider_timeout: float = 2.0
    push_retry_attempts: int = 3
    push_retry_after_cap: float = 2.0
    push_concurrency: int = 64
    push_outbox_backoff_base: float = 0.25
    push_outbox_backoff_cap: float = 2.0
    push_outbox_max_age: float = 3600.0
    push_outbox_max_depth: int = 100_000
    push_outbox_batch: int = 100
    push_outbox_concurrency: int = 16

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PushTunables:
        """Defaults overridden by `SC_<NAME>`; a value that does not parse names its variable."""
        values: dict[str, str | float | int] = {}
        for f in dataclasses.fields(cls):
            key = f"SC_{f.name.upper()}"
            raw = environ.get(key, "").strip()
            if not raw:
                continue
            kind: type = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]
