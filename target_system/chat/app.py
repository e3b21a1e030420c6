"""`create_app(settings)`: the chat service as an ASGI app (`python -m target_system chat`)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from target_system.chat.routes import build_router
from target_system.chat.service import ChatService
from target_system.chat.tunables import ChatTunables
from target_system.common.app import create_service_app, lifespan_of
from target_system.common.metrics import ServiceMetrics
from target_system.settings import Settings

SERVICE_NAME = "chat"


def create_app(settings: Settings) -> FastAPI:
    metrics = ServiceMetrics(SERVICE_NAME)
    chat = ChatService.build(settings, metrics, ChatTunables.from_env(settings, os.environ))

    app = create_service_app(
        settings,
        name=SERVICE_NAME,
        ready_checks={
            "sql": chat.sql.ping,
            "message_store": chat.messages.ready,
            "redis": chat.redis.ping,
            "pubsub": chat.hub.ready,  # the hub's reader ended for good (PUBSUB_RECONNECT off)
        },
        lifespan=lifespan_of(chat),
        metrics=metrics,
    )
    app.state.chat = chat
    app.include_router(build_router(chat))
    return app
