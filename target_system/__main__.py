"""`python -m target_system SERVICE`: run one SecureConnect service under uvicorn."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Service name -> "module:factory". Factories take the Settings and return an ASGI app. Imported by
# name so that a service still being written does not break the others.
SERVICES: Mapping[str, str] = {
    "gateway": "target_system.gateway.app:create_app",
    "auth": "target_system.auth.app:create_app",
    "chat": "target_system.chat.app:create_app",
    "video": "target_system.video.app:create_app",
    "storage": "target_system.storage.app:create_app",
    "push": "target_system.push.app:create_app",
    "push-provider": "target_system.push_provider.app:create_app",
}


def load_factory(target: str) -> Callable[..., Any]:
    """The callable named by `module:attribute`."""
    module_name, _, attribute = target.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return factory


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in SERVICES:
        given = args[0] if args else "(none)"
        valid = ", ".join(SERVICES)
        print(f"target_system: unknown service {given!r}; valid services: {valid}", file=sys.stderr)
        return 2
    service = args[0]
    import uvicorn

    from target_system.settings import ExposedWithWeakSecret, Settings

    settings = Settings.from_env({**os.environ, "SC_SERVICE": service})
    try:
        settings.check_exposure()
    except ExposedWithWeakSecret as exc:
        print(f"target_system {service}: {exc}", file=sys.stderr)
        return 2
    app = load_factory(SERVICES[service])(settings)
    # Worker count, concurrency limit and listen backlog are uvicorn's defaults in every profile (one
    # process, limit_concurrency=None, backlog=2048): no hardening switch acts on them.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        access_log=False,
        lifespan="on",
        log_level=os.environ.get("SC_LOG_LEVEL", "warning"),
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
