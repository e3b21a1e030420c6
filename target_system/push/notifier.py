"""From chat events to provider calls: one notification per active device of every member but the sender.

Push is asynchronous by construction: chat publishes and answers its client; whatever the provider
does afterwards (fail, throttle, hang) can cost notifications, never a chat send. Each message is
handled in its own task so that a slow provider does not stall the event stream; provider calls in
flight are bounded by `push_concurrency`.

The FCM `data` of every notification carries `message_id`, `conversation_id`, `sender_id` and
`idempotency_key`, so the harness can match what the provider received to the chat messages it sent.

A notification the provider refuses (5xx, 429, a timeout, no connection) is logged and dropped, as
the reports found it, unless PUSH_OUTBOX gives the notifier an outbox: then it is kept and sent once
the provider answers again (outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from target_system.push.devices import Device, DeviceRegistry
from target_system.push.events import ChatMessage
from target_system.push.members import ConversationMembers
from target_system.push.metrics import PushMetrics
from target_system.push.outbox import DropReason, Outbox
from target_system.push.provider import ProviderClient, SendOutcome

log = logging.getLogger(__name__)

PREVIEW_CHARS = 120


def notification_of(message: ChatMessage) -> tuple[dict[str, str], dict[str, str]]:
    """The FCM `notification` and `data` of a chat message (data values are strings, as FCM requires)."""
    notification = {"title": "New message", "body": message.body[:PREVIEW_CHARS]}
    data = {
        "kind": "chat.message",
        "message_id": message.id,
        "conversation_id": str(message.conversation_id),
        "sender_id": message.sender_id,
        "idempotency_key": message.idempotency_key,
    }
    return notification, data


async def retire_token(devices: DeviceRegistry, metrics: PushMetrics, token: str) -> None:
    """Deactivate a token the provider called unregistered (a Redis error leaves it for next time)."""
    try:
        if await devices.deactivate(token):
            metrics.deactivated.labels(metrics.service).inc()
    except Exception as exc:
        log.warning("could not deactivate an invalid token: %s", exc)


class Notifier:
    """Turns chat messages into provider calls; never raises out of a notification."""

    def __init__(
        self,
        devices: DeviceRegistry,
        members: ConversationMembers,
        provider: ProviderClient,
        metrics: PushMetrics,
        *,
        concurrency: int,
        outbox: Outbox | None = None,
    ) -> None:
        self._devices = devices
        self._outbox = outbox
        self._members = members
        self._provider = provider
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, messages: AsyncIterator[ChatMessage]) -> None:
        """Consume `messages` until cancelled, notifying each in the background."""
        try:
            async for message in messages:
                task = asyncio.create_task(self.notify(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def notify(self, message: ChatMessage) -> None:
        try:
            members = await self._members.of(message.conversation_id)
            devices = await self._devices.of_users(m for m in members if m != message.sender_id)
        except Exception as exc:
            self._metrics.failed.labels(self._metrics.service, "lookup").inc()
            log.warning("no notification for message %s: lookup failed: %s", message.id, exc)
            return
        notification, data = notification_of(message)
        await asyncio.gather(*(self._deliver(d, notification, data) for d in devices if d.active))

    async def _deliver(self, device: Device, notification: dict[str, str], data: dict[str, str]) -> None:
        service = self._metrics.service
        self._metrics.notifications.labels(service).inc()
        retries = self._metrics.retries.labels(service)
        async with self._slots:
            result = await self._provider.send(device.token, notification, data, on_retry=retries.inc)
        if result.outcome is SendOutcome.DELIVERED:
            if self._outbox is not None:
                self._outbox.provider_answered()
            return
        self._metrics.failed.labels(service, result.outcome.value).inc()
        if result.outcome is SendOutcome.UNREGISTERED:
            await retire_token(self._devices, self._metrics, device.token)
        elif not result.refused:  # refused for good (a bad request): sending it again would not help
            log.info("notification to a %s device rejected: %s", device.platform, result.detail)
        elif self._outbox is not None:
            await self._outbox.keep(device.token, notification, data, result)
        else:  # the reports' "logs error, continues": the notification is gone
            self._metrics.outbox_dropped.labels(service, DropReason.NO_OUTBOX.value).inc()
            log.info("notification to a %s device failed: %s", device.platform, result.detail)
