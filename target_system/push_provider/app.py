"""The push-provider simulator app: the FCM-style send endpoint, plus the harness's control endpoints.

    POST /v1/projects/{project}/messages:send   Authorization: Bearer <SC_PUSH_SERVER_KEY>
         {"message": {"token": str, "notification": {...}, "data": {str: str}}}
         200 {"name": "projects/<project>/messages/<id>"}; errors in FCM's shape (401, 400,
         404 UNREGISTERED, 429 QUOTA_EXCEEDED with Retry-After, 503 UNAVAILABLE)
    GET  /control/mode        the current mode: {"mode", "delay_ms", "retry_after_s", "layers"}
    POST /control/mode        switch it: {"mode": "ok"|"503"|"429"|"slow"|"invalid-tokens", ...};
                              with "id": <fault id> the mode is a layer over the others (the newest
                              answers), without it every layer is replaced
    DELETE /control/mode/{id} remove one layer (idempotent); the newest remaining one answers
    GET  /control/received    ?since=<seq>&outcome=delivered&limit=1000 ->
                              {"received": [{seq, at, outcome, name, token, notification, data}], "last_seq"}

Tokens starting with `invalid` are always unregistered (so tests can make stale devices without
switching modes). The control endpoints take no credentials: the harness reaches them on loopback,
directly, not through the fault proxy. The simulator is a third party, so the stack's hardening
switches do not apply to it (a slow answer must not be cut short by its own request timeout).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import os
import uuid
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import Counter
from starlette.responses import JSONResponse

from target_system.common.app import create_service_app
from target_system.common.metrics import ServiceMetrics
from target_system.push_provider.modes import FailureMode, Mode, ModeControl
from target_system.push_provider.received import Outcome, ReceivedLog
from target_system.settings import Settings
from target_system.switches import Profile, Switches

SERVICE = "push-provider"
DEFAULT_SERVER_KEY = "secureconnect-push-server-key"
INVALID_PREFIX = "invalid"


def fcm_error(status: int, grpc_status: str, message: str, error_code: str | None = None) -> JSONResponse:
    """An error in FCM v1's shape (google.rpc.Status, with the FcmError detail when there is one)."""
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if error_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
        ]
    return JSONResponse({"error": error}, status_code=status)


def _parse_message(body: Any) -> tuple[str, dict[str, Any], dict[str, str]] | str:
    """(token, notification, data) of a send body, or what is wrong with it."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return 'body must be {"message": {...}}'
    token = message.get("token")
    if not isinstance(token, str) or not token:
        return "message.token must be a non-empty string"
    notification = message.get("notification") or {}
    data = message.get("data") or {}
    if not isinstance(notification, dict):
        return "message.notification must be an object"
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "message.data must map strings to strings"  # FCM's own rule
    return token, notification, {str(k): v for k, v in data.items()}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The simulator for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    settings = dataclasses.replace(settings, switches=Switches.resolve(Profile.BASELINE))
    server_key = os.environ.get("SC_PUSH_SERVER_KEY") or DEFAULT_SERVER_KEY
    metrics = ServiceMetrics(SERVICE)
    sends = metrics.counter("push_provider_sends_total", "Sends answered, by outcome", ("service", "outcome"))
    control = ModeControl()
    log = ReceivedLog()
    app = create_service_app(settings, name=SERVICE, metrics=metrics)

    _send_route(app, server_key, control, log, sends)
    _control_routes(app, control, log)
    return app


def _send_route(
    app: FastAPI, server_key: str, control: ModeControl, log: ReceivedLog, sends: Counter
) -> None:
    """FCM's send endpoint, answering as the current failure mode says and logging every send."""

    def record(outcome: Outcome, token: str, notification: dict[str, Any], data: dict[str, str]) -> None:
        sends.labels(SERVICE, outcome.value).inc()
        log.add(outcome, token, notification, data)

    @app.post("/v1/projects/{project}/messages:send")
    async def send(project: str, request: Request) -> JSONResponse:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip(), server_key):
            return fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        try:
            body = await request.json()
        except ValueError:
            return fcm_error(400, "INVALID_ARGUMENT", "body is not JSON", "INVALID_ARGUMENT")
        parsed = _parse_message(body)
        if isinstance(parsed, str):
            return fcm_error(400, "INVALID_ARGUMENT", parsed, "INVALID_ARGUMENT")
        token, notification, data = parsed
        mode = control.current  # the mode at arrival decides the answer, even if switched meanwhile
        if mode.mode is Mode.UNAVAILABLE:
            record(Outcome.UNAVAILABLE, token, notification, data)
            return fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
        if mode.mode is Mode.RATE_LIMITED:
            record(Outcome.RATE_LIMITED, token, notification, data)
            answer = fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED")
            answer.headers["Retry-After"] = str(mode.retry_after_s)
            return answer
        if mode.mode is Mode.INVALID_TOKENS or token.startswith(INVALID_PREFIX):
            record(Outcome.UNREGISTERED, token, notification, data)
            return fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if mode.mode is Mode.SLOW:
            await asyncio.sleep(mode.delay_ms / 1000)
            if await request.is_disconnected():
                record(Outcome.ABANDONED, token, notification, data)
                return JSONResponse({}, status_code=499)  # nobody reads it; the log is what counts
        name = f"projects/{project}/messages/{uuid.uuid4().hex}"
        sends.labels(SERVICE, Outcome.DELIVERED.value).inc()
        log.add(Outcome.DELIVERED, token, notification, data, name=name)
        return JSONResponse({"name": name})


def _control_routes(app: FastAPI, control: ModeControl, log: ReceivedLog) -> None:
    """The test's handles: read, layer and remove failure modes; read what was received."""

    def mode_answer() -> JSONResponse:
        return JSONResponse({**control.current.to_json(), "layers": control.layers})

    @app.get("/control/mode")
    async def get_mode() -> JSONResponse:
        return mode_answer()

    @app.post("/control/mode")
    async def set_mode(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            mode = FailureMode.from_json(body)
            layer = body.get("id")
            if layer is not None and (not isinstance(layer, str) or not 0 < len(layer) <= 200):
                raise ValueError('"id" must be a non-empty string of at most 200 characters')
        except ValueError as exc:
            return JSONResponse({"error": {"code": "invalid_mode", "message": str(exc)}}, status_code=400)
        control.switch(mode, layer)
        return mode_answer()

    @app.delete("/control/mode/{layer}")
    async def remove_mode(layer: str) -> JSONResponse:
        control.remove(layer)
        return mode_answer()

    @app.get("/control/received")
    async def received(since: int = 0, outcome: Outcome | None = None, limit: int = 1000) -> JSONResponse:
        entries = log.since(since, outcome=outcome, limit=max(1, min(limit, 10_000)))
        return JSONResponse({"received": [e.to_json() for e in entries], "last_seq": log.last_seq})
