"""The video service's root object: every store, repository and switch-driven policy, built in one place."""

from __future__ import annotations

from dataclasses import dataclass

from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import ResilientRedis
from target_system.common.revocations import RevocationFeed
from target_system.common.sql import SqlStore
from target_system.common.tokens import Authenticator
from target_system.common.wsgate import SocketGate, UserSocketCap
from target_system.settings import Settings
from target_system.switches import Switch
from target_system.video.calls import Calls
from target_system.video.cleanup import StaleCallCleanup
from target_system.video.metrics import VideoMetrics
from target_system.video.notify import Notifier
from target_system.video.schema import VIDEO_SCHEMA
from target_system.video.tunables import VideoTunables

DEFAULT_SQL_DSN = "postgresql://postgres@127.0.0.1:26257/secureconnect"


@dataclass(slots=True)
class VideoService:
    settings: Settings
    tunables: VideoTunables
    metrics: VideoMetrics
    sql: SqlStore
    redis: ResilientRedis
    auth: Authenticator
    revocation_feed: RevocationFeed
    calls: Calls
    notifier: Notifier
    cleanup: StaleCallCleanup
    gate: SocketGate
    user_sockets: UserSocketCap

    @classmethod
    def build(
        cls, settings: Settings, service_metrics: ServiceMetrics, tunables: VideoTunables
    ) -> VideoService:
        """Everything wired, nothing connected yet (`start` does that)."""
        metrics = VideoMetrics.create(service_metrics)
        sql = SqlStore(settings.sql_dsn or DEFAULT_SQL_DSN, settings, service_metrics, name="cockroach")
        redis = ResilientRedis(settings, service_metrics)
        calls = Calls(sql)
        notifier = Notifier(redis, metrics)
        auth = Authenticator(settings, redis, service_metrics)
        return cls(
            settings=settings,
            tunables=tunables,
            metrics=metrics,
            sql=sql,
            redis=redis,
            auth=auth,
            revocation_feed=RevocationFeed(settings, auth.revocations, service_metrics),
            calls=calls,
            notifier=notifier,
            cleanup=StaleCallCleanup(
                calls,
                metrics,
                ringing_for=tunables.stale_ringing,
                active_for=tunables.stale_active,
                interval=settings.tunables.cleanup_interval,
                on_ended=notifier.call_changed,
            ),
            # WS_CAP off: the unfixed signaling handler's own cap of 1000 (chaos readiness analysis #5).
            gate=SocketGate(
                tunables.ws_cap if settings.switches.on(Switch.WS_CAP) else settings.tunables.legacy_ws_cap
            ),
            user_sockets=UserSocketCap(settings.tunables.ws_user_cap),
        )

    async def start(self) -> None:
        await self.sql.migrate(VIDEO_SCHEMA)
        await self.revocation_feed.start()
        if self.settings.switches.on(Switch.CLEANUP_JOBS):
            self.cleanup.start()

    async def stop(self) -> None:
        await self.revocation_feed.stop()
        await self.cleanup.stop()
        await self.redis.close()
        await self.sql.close()
