"""`create_app(settings)`: the video service as an ASGI app (`python -m target_system video`)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from target_system.common.app import create_service_app, lifespan_of
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings
from target_system.video.routes import build_router
from target_system.video.service import VideoService
from target_system.video.tunables import VideoTunables

SERVICE_NAME = "video"


def create_app(settings: Settings) -> FastAPI:
    metrics = ServiceMetrics(SERVICE_NAME)
    video = VideoService.build(settings, metrics, VideoTunables.from_env(settings, os.environ))

    app = create_service_app(
        settings,
        name=SERVICE_NAME,
        ready_checks={"sql": video.sql.ping, "redis": video.redis.ping},
        lifespan=lifespan_of(video),
        metrics=metrics,
    )
    app.state.video = video
    app.include_router(build_router(video))
    return app
