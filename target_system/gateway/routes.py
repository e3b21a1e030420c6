"""The gateway's routing table: `/v1/<backend>/...` goes to that backend's base URL, path unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from target_system.settings import Settings


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend service behind the gateway."""

    name: str
    base_url: str  # e.g. http://127.0.0.1:28081 (the fault proxy in front of the service)

    @property
    def route_label(self) -> str:
        """The `route` label of this backend's requests in the gateway's metrics."""
        return f"/v1/{self.name}/*"

    @property
    def ws_base_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}"


def routing_table(settings: Settings) -> dict[str, Backend]:
    """Backends by the path segment after `/v1/`; only those whose URL is configured."""
    urls = {
        "auth": settings.auth_url,
        "chat": settings.chat_url,
        "video": settings.video_url,
        "storage": settings.storage_url,
        "push": settings.push_url,
    }
    return {name: Backend(name, url.rstrip("/")) for name, url in urls.items() if url}
