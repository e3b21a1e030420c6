"""Video-only tunables that `Settings` does not carry, read once from `SC_VIDEO_*` when the app is built.

| env | default | meaning |
| --- | --- | --- |
| SC_VIDEO_STALE_RINGING | 120 | seconds a call may ring before cleanup ends it (CLEANUP_JOBS) |
| SC_VIDEO_STALE_ACTIVE | 14400 | seconds a call may stay active before cleanup ends it (CLEANUP_JOBS) |
| SC_VIDEO_WS_CAP | SC_WS_CAP | signaling WebSockets per video process (WS_CAP) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from target_system.settings import Settings


def _number(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a valid number") from None
    if value <= 0:
        raise ValueError(f"{key}={raw!r} must be above 0")
    return value


@dataclass(frozen=True, slots=True)
class VideoTunables:
    ws_cap: int
    stale_ringing: float = 120.0
    stale_active: float = 4 * 3600.0

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str]) -> VideoTunables:
        return cls(
            ws_cap=int(_number(environ, "SC_VIDEO_WS_CAP", settings.tunables.ws_cap)),
            stale_ringing=_number(environ, "SC_VIDEO_STALE_RINGING", 120.0),
            stale_active=_number(environ, "SC_VIDEO_STALE_ACTIVE", 4 * 3600.0),
        )
