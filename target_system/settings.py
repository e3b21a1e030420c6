"""Settings of one SecureConnect service process, read once from the environment.

The launcher sets, for every service: `SC_SERVICE`, `SC_HOST`, `SC_PORT`, `SC_PROFILE`
(`baseline` | `reported` | `verified` | `hardened`, default hardened; see `switches.py`),
`SC_SWITCHES` (`name=on|off,...`), `SC_JWT_SECRET`, `SC_ADMIN_TOKEN` (the `X-Admin-Token` of admin
endpoints; unset: they always answer 403), `SC_RUN_DIR`, and the service's links: `SC_REDIS_URL`,
`SC_SQL_DSN`, `SC_MESSAGES_DSN`, `SC_AUTH_URL`, `SC_CHAT_URL`, `SC_VIDEO_URL`, `SC_STORAGE_URL`,
`SC_PUSH_URL`, `SC_PUSH_PROVIDER_URL`, `SC_OBJECT_STORE_URL`. A service refuses to start listening
beyond loopback with a public or short secret (`Settings.check_exposure`).

Tunables (each overridable by `SC_<NAME>`, e.g. `SC_REQUEST_TIMEOUT=2.5`; durations in seconds):

| env | default | meaning |
| --- | --- | --- |
| SC_REQUEST_TIMEOUT | 5.0 | request timeout middleware (REQUEST_TIMEOUT) |
| SC_STORE_TIMEOUT | 1.0 | per call to SQL, Redis or the message store (STORE_TIMEOUTS) |
| SC_POOL_SIZE | 10 | SQL pool size per store, every profile (asyncpg `create_pool` default max_size) |
| SC_POOL_ACQUIRE_TIMEOUT | 1.0 | wait for a pooled SQL connection before 503 (POOL_LIMITS; off: forever) |
| SC_REDIS_TIMEOUT | 3.0 | Redis dial/read/write timeout with STORE_TIMEOUTS off (the unfixed `cfg.Timeout`) |
| SC_MESSAGE_STORE_RETRIES | 3 | message-store retries on errors, every profile (unfixed gocql policy) |
| SC_MESSAGE_STORE_RETRY_MIN | 0.1 | first retry's backoff, doubling, +-50% jitter (gocql's Min default) |
| SC_MESSAGE_STORE_RETRY_MAX | 10.0 | cap of one backoff sleep (gocql's Max default) |
| SC_BREAKER_FAIL_MAX | 5 | consecutive backend failures that open the gateway breaker |
| SC_BREAKER_RESET | 5.0 | time the breaker stays open before a half-open trial |
| SC_PROXY_TIMEOUT | 3.0 | gateway -> backend call timeout (PROXY_TIMEOUTS) |
| SC_WS_CAP | 200 | WebSocket connections per process; per backend at the gateway (WS_CAP) |
| SC_WS_USER_CAP | 20 | WebSockets per user in each chat/video process, every profile (not a switch) |
| SC_LEGACY_WS_CAP | 1000 | WebSockets per chat/video process with WS_CAP off (the unfixed handlers' cap) |
| SC_LEGACY_WS_BUFFER | 1000 | messages queued per chat socket with WS_CAP off (the unfixed send channel) |
| SC_RATE_LIMIT | 20000 | requests per client key per window; high by default so the bench is not throttled |
| SC_RATE_LIMIT_WINDOW | 60 | fixed rate-limit window |
| SC_RATE_LIMIT_CHECK_TIMEOUT | 0.05 | bound on the Redis rate-limit check (STORE_TIMEOUTS) |
| SC_HEALTH_CHECK_TIMEOUT | 0.5 | per dependency check of /health/ready (HEALTH_DEPS) |
| SC_JWT_ACCESS_TTL | 900 | access token lifetime |
| SC_JWT_REFRESH_TTL | 604800 | refresh token (session) lifetime |
| SC_LOCKOUT_MAX_ATTEMPTS | 5 | failed logins before the account is locked |
| SC_LOCKOUT_WINDOW | 300 | how long failed logins are counted and the lock lasts |
| SC_ARGON2_TIME_COST | 1 | argon2 passes (low: this is a test stack, logins must be fast) |
| SC_ARGON2_MEMORY_KIB | 8192 | argon2 memory (8 MiB) |
| SC_ARGON2_PARALLELISM | 1 | argon2 lanes |
| SC_REDIS_RETRY_ATTEMPTS | 3 | attempts per Redis call (REDIS_RETRY) |
| SC_REDIS_RETRY_CAP | 0.2 | cap of one jittered backoff sleep (REDIS_RETRY) |
| SC_REDIS_DOWN_HOLD | 1.0 | after a Redis failure, fallback paths skip Redis for this long (REDIS_FALLBACK) |
| SC_MAX_BODY_BYTES | 1048576 | request bodies above this get 413 |
| SC_MIGRATE_TIMEOUT | 30.0 | how long startup waits for the SQL store to answer |
| SC_CLEANUP_INTERVAL | 30.0 | period of cleanup jobs (CLEANUP_JOBS) |
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from target_system.switches import Switches

DEV_JWT_SECRET = "secureconnect-dev-secret-not-for-production"
# Secrets that were ever published (in this repository's compose defaults): never good enough to expose.
PUBLIC_SECRETS = frozenset({DEV_JWT_SECRET, "secureconnect-dev-admin-token"})
MIN_SECRET_BYTES = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ExposedWithWeakSecret(ValueError):
    """The service would listen beyond loopback with a secret anyone can know or guess."""


@dataclass(frozen=True, slots=True)
class Tunables:
    """Numbers a scenario or test may shorten; each is read from `SC_<FIELD NAME IN CAPITALS>`."""

    request_timeout: float = 5.0
    store_timeout: float = 1.0
    pool_size: int = 10
    pool_acquire_timeout: float = 1.0
    redis_timeout: float = 3.0
    message_store_retries: int = 3
    message_store_retry_min: float = 0.1
    message_store_retry_max: float = 10.0
    breaker_fail_max: int = 5
    breaker_reset: float = 5.0
    proxy_timeout: float = 3.0
    ws_cap: int = 200
    ws_user_cap: int = 20
    legacy_ws_cap: int = 1000
    legacy_ws_buffer: int = 1000
    rate_limit: int = 20000
    rate_limit_window: int = 60
    rate_limit_check_timeout: float = 0.05
    health_check_timeout: float = 0.5
    jwt_access_ttl: int = 15 * 60
    jwt_refresh_ttl: int = 7 * 24 * 3600
    lockout_max_attempts: int = 5
    lockout_window: int = 300
    argon2_time_cost: int = 1
    argon2_memory_kib: int = 8192
    argon2_parallelism: int = 1
    redis_retry_attempts: int = 3
    redis_retry_cap: float = 0.2
    redis_down_hold: float = 1.0
    max_body_bytes: int = 1024 * 1024
    migrate_timeout: float = 30.0
    cleanup_interval: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Tunables:
        """Defaults overridden by `SC_<NAME>`; a value that does not parse names its variable."""
        values: dict[str, float | int] = {}
        for f in dataclasses.fields(cls):
            key = f"SC_{f.name.upper()}"
            raw = environ.get(key)
            if raw is None or raw.strip() == "":
                continue
            kind = int if isinstance(f.default, int) else float
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]


def _optional(environ: Mapping[str, str], key: str) -> str | None:
    value = environ.get(key, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a service process reads from its environment."""

    service: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    switches: Switches = field(default_factory=Switches.resolve)
    jwt_secret: str = DEV_JWT_SECRET
    admin_token: str | None = None
    run_dir: Path = Path(".chaosgate/run")
    redis_url: str = "redis://127.0.0.1:6379/0"
    sql_dsn: str | None = None
    messages_dsn: str | None = None
    auth_url: str | None = None
    chat_url: str | None = None
    video_url: str | None = None
    storage_url: str | None = None
    push_url: str | None = None
    push_provider_url: str | None = None
    object_store_url: str | None = None
    tunables: Tunables = field(default_factory=Tunables)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        port_raw = env.get("SC_PORT", "8000")
        try:
            port = int(port_raw)
        except ValueError:
            raise ValueError(f"SC_PORT={port_raw!r} is not a port number") from None
        return cls(
            service=env.get("SC_SERVICE", ""),
            host=env.get("SC_HOST", "127.0.0.1"),
            port=port,
            switches=Switches.resolve(env.get("SC_PROFILE") or "hardened", env.get("SC_SWITCHES", "")),
            jwt_secret=env.get("SC_JWT_SECRET") or DEV_JWT_SECRET,
            admin_token=_optional(env, "SC_ADMIN_TOKEN"),
            run_dir=Path(env.get("SC_RUN_DIR") or ".chaosgate/run"),
            redis_url=env.get("SC_REDIS_URL") or "redis://127.0.0.1:6379/0",
            sql_dsn=_optional(env, "SC_SQL_DSN"),
            messages_dsn=_optional(env, "SC_MESSAGES_DSN"),
            auth_url=_optional(env, "SC_AUTH_URL"),
            chat_url=_optional(env, "SC_CHAT_URL"),
            video_url=_optional(env, "SC_VIDEO_URL"),
            storage_url=_optional(env, "SC_STORAGE_URL"),
            push_url=_optional(env, "SC_PUSH_URL"),
            push_provider_url=_optional(env, "SC_PUSH_PROVIDER_URL"),
            object_store_url=_optional(env, "SC_OBJECT_STORE_URL"),
            tunables=Tunables.from_env(env),
        )

    def check_exposure(self, environ: Mapping[str, str] | None = None) -> None:
        """Refuse (`ExposedWithWeakSecret`) to serve beyond loopback with a public or short secret.

        Beyond loopback means `SC_HOST` is not a loopback address, or `CHAOSGATE_BIND` (how compose
        publishes the ports) is set to anything but one: then anyone who can reach the port could
        forge any user's token with a known JWT secret, or run admin jobs with a known admin token.
        """
        env = os.environ if environ is None else environ
        exposed = [
            f"{key}={value}"
            for key, value in (("SC_HOST", self.host), ("CHAOSGATE_BIND", env.get("CHAOSGATE_BIND", "")))
            if value.strip() and value.strip().strip("[]") not in LOOPBACK_HOSTS
        ]
        if not exposed:
            return
        weak = [
            name
            for name, secret in (("SC_JWT_SECRET", self.jwt_secret), ("SC_ADMIN_TOKEN", self.admin_token))
            if secret is not None and (secret in PUBLIC_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES)
        ]
        if weak:
            raise ExposedWithWeakSecret(
                f"refusing to listen beyond loopback ({', '.join(exposed)}) with a public or short "
                f"{' and '.join(weak)}: set {' and '.join(weak)} to at least {MIN_SECRET_BYTES} random "
                "bytes (e.g. `openssl rand -hex 32`), or bind to 127.0.0.1"
            )
