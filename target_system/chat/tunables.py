"""Chat-only tunables that `Settings` does not carry, read once from `SC_CHAT_*` when the app is built.

| env | default | meaning |
| --- | --- | --- |
| SC_CHAT_WS_CAP | SC_WS_CAP | WebSockets per chat process (WS_CAP); apart from the gateway's cap so a test
|                |           | or scenario can saturate chat without the gateway refusing first |
| SC_CHAT_SEND_QUEUE | 256 | messages queued for one slow socket before it is dropped (WS_CAP) |
| SC_CHAT_PRESENCE_TTL | 60 | seconds a heartbeat keeps a user online |
| SC_CHAT_PERSIST_QUEUE | 1000 | acknowledged messages waiting to be stored before new ones are dropped
|                       |      | (PERSIST_FIRST off; the unfixed code's channel size, as its hub's) |
| SC_CHAT_PERSIST_WRITERS | 10 | write-behind tasks storing them (one per pooled store connection) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from target_system.settings import Settings


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a valid int") from None
    if value < 1:
        raise ValueError(f"{key}={raw!r} must be at least 1")
    return value


@dataclass(frozen=True, slots=True)
class ChatTunables:
    ws_cap: int
    send_queue_limit: int = 256
    presence_ttl: int = 60
    persist_queue: int = 1000
    persist_writers: int = 10

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str]) -> ChatTunables:
        return cls(
            ws_cap=_int(environ, "SC_CHAT_WS_CAP", settings.tunables.ws_cap),
            send_queue_limit=_int(environ, "SC_CHAT_SEND_QUEUE", 256),
            presence_ttl=_int(environ, "SC_CHAT_PRESENCE_TTL", 60),
            persist_queue=_int(environ, "SC_CHAT_PERSIST_QUEUE", 1000),
            persist_writers=_int(environ, "SC_CHAT_PERSIST_WRITERS", 10),
        )
