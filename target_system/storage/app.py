"""`create_app(settings)`: storage as an ASGI app (`python -m target_system storage`)."""

from __future__ import annotations

import dataclasses
import os

from fastapi import FastAPI

from target_system.common.app import create_service_app, lifespan_of
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.storage.routes import build_router
from target_system.storage.service import StorageService
from target_system.storage.tunables import StorageTunables

SERVICE_NAME = "storage"


def create_app(settings: Settings) -> FastAPI:
    tunables = StorageTunables.from_env(os.environ)
    # The service-wide body limit must let the largest legal file (plus multipart framing) through;
    # the file limit itself is checked on the file, so its 413 says which limit was hit.
    body_limit = max(settings.tunables.max_body_bytes, tunables.max_body_bytes)
    settings = dataclasses.replace(
        settings, tunables=dataclasses.replace(settings.tunables, max_body_bytes=body_limit)
    )
    metrics = ServiceMetrics(SERVICE_NAME)
    storage = StorageService.build(settings, metrics, tunables)

    app = create_service_app(
        settings,
        name=SERVICE_NAME,
        ready_checks={
            "sql": storage.sql.ping,
            "redis": storage.redis.ping,
            "objectstore": storage.objects.ping,
        },
        lifespan=lifespan_of(storage),
        metrics=metrics,
    )
    app.state.storage = storage
    app.include_router(build_router(storage))
    return app
