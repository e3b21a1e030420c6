"""Access tokens (JWT, HS256) and the `require_user` check every service puts in front of its routes.

An access token carries `sub` (user id), `sid` (session id), `jti` (token id), `iat` and `exp`. Auth
issues it; any service verifies it with `Authenticator`: signature and expiry first, then the
revocations this process knows (`LocalRevocations`, fed from auth's revocation log: revocations.py),
then Redis (`blacklist:<jti>` must not exist, `session:<sid>` must). When Redis is down:

- REDIS_FALLBACK on: a token that verifies and is not known to be revoked (its jti or its session)
  is accepted; the response is marked degraded (`redis_unavailable`) and
  `auth_fallback_total{service,op}` counts. A token revoked before the outage stays refused.
- off: the Redis failure surfaces (503), as the reports found it.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from starlette.requests import HTTPConnection

from target_system.common.degraded import mark_degraded
from target_system.common.errors import Unauthorized
from target_system.common.metrics import ServiceMetrics
from target_system.common.redis import RedisUnavailable, ResilientRedis, fail_closed
from target_system.common.revocations import LocalRevocations, RevocationKind
from target_system.settings import Settings
from target_system.switches import Switch

ALGORITHM = "HS256"
DEGRADED_REASON = "redis_unavailable"


def blacklist_key(jti: str) -> str:
    return f"blacklist:{jti}"


def session_key(session_id: str) -> str:
    return f"session:{session_id}"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What an access token says."""

    user_id: str
    session_id: str
    jti: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The caller of a request, as `require_user` established it."""

    user_id: str
    session_id: str
    jti: str
    expires_at: int
    token: str
    degraded: bool = False


class TokenCodec:
    """Signs and verifies access tokens with the stack's shared secret."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self.access_ttl = settings.tunables.jwt_access_ttl

    def issue(self, user_id: str, session_id: str) -> tuple[str, AccessClaims]:
        now = int(time.time())
        claims = AccessClaims(user_id, session_id, uuid.uuid4().hex, now, now + self.access_ttl)
        payload = {
            "sub": claims.user_id,
            "sid": claims.session_id,
            "jti": claims.jti,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "typ": "access",
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> AccessClaims:
        """The token's claims; `Unauthorized` if it is malformed, forged, expired or not an access token."""
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["sub", "sid", "jti", "exp"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid access token", code="invalid_token") from None
        if payload.get("typ") != "access":
            raise Unauthorized("not an access token", code="invalid_token")
        try:
            return AccessClaims(
                str(payload["sub"]),
                str(payload["sid"]),
                str(payload["jti"]),
                int(payload.get("iat", 0)),
                int(payload["exp"]),
            )
        except (TypeError, ValueError):
            raise Unauthorized("invalid access token", code="invalid_token") from None


class CachingTokenCodec(TokenCodec):
    """A TokenCodec whose `verify` answers repeated tokens from a bounded LRU of claims.

    A token string verifies the same way every time until it expires, so caching its claims is safe;
    revocation is not affected (the blacklist and session checks run per request). Tokens that fail
    are not cached: a flood of forged ones cannot push the good ones out.
    """

    def __init__(self, settings: Settings, *, max_entries: int = 10_000) -> None:
        super().__init__(settings)
        self._max_entries = max_entries
        self._claims: OrderedDict[str, AccessClaims] = OrderedDict()

    def verify(self, token: str) -> AccessClaims:
        claims = self._claims.get(token)
        if claims is not None and claims.expires_at > time.time():
            self._claims.move_to_end(token)
            return claims
        self._claims.pop(token, None)
        claims = super().verify(token)  # raises Unauthorized for bad or expired tokens: nothing cached
        self._claims[token] = claims
        if len(self._claims) > self._max_entries:
            self._claims.popitem(last=False)
        return claims


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or of a `?token=` query (WebSockets)."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    token = conn.query_params.get("token")
    return token or None


class Authenticator:
    """Verifies access tokens against the signature, the blacklist and the session store."""

    def __init__(
        self,
        settings: Settings,
        redis: ResilientRedis,
        metrics: ServiceMetrics,
        *,
        revocations: LocalRevocations | None = None,
        local_session: Callable[[str], bool] | None = None,
    ) -> None:
        self.codec = TokenCodec(settings)
        self.redis = redis
        self.revocations = revocations if revocations is not None else LocalRevocations()
        # Auth passes its in-memory session store here, so sessions created while Redis was down count.
        self._local_session = local_session
        self._fallback = settings.switches.on(Switch.REDIS_FALLBACK)
        self._fallbacks = metrics.counter(
            "auth_fallback_total",
            "Auth decisions taken from in-memory state while Redis was down",
            ("service", "op"),
        ).labels(metrics.service, "verify")

    async def authenticate(self, token: str) -> CurrentUser:
        """The user of `token`; else `Unauthorized`, or a 500 (Redis down, REDIS_FALLBACK off)."""
        claims = self.codec.verify(token)
        refusal = self.revocations.refusal(claims.jti, claims.session_id)
        if refusal is RevocationKind.TOKEN:
            raise Unauthorized("token has been revoked", code="token_revoked")
        if refusal is RevocationKind.SESSION:
            raise Unauthorized("session has ended", code="session_ended")
        if self._fallback and self.redis.recently_down:
            return self._degraded(claims, token)
        try:
            revoked, session = await self.redis.pipeline(
                "verify_token",
                lambda p: (p.exists(blacklist_key(claims.jti)), p.exists(session_key(claims.session_id))),
            )
        except RedisUnavailable as exc:
            if not self._fallback:
                raise fail_closed(exc) from exc  # 500, as the unfixed middleware answered
            return self._degraded(claims, token)
        if revoked:
            self.revocations.add(claims.jti, claims.expires_at)  # still refused if Redis goes away
            raise Unauthorized("token has been revoked", code="token_revoked")
        if not session and not (self._local_session and self._local_session(claims.session_id)):
            raise Unauthorized("session has ended", code="session_ended")
        return CurrentUser(claims.user_id, claims.session_id, claims.jti, claims.expires_at, token)

    def _degraded(self, claims: AccessClaims, token: str) -> CurrentUser:
        self._fallbacks.inc()
        mark_degraded(DEGRADED_REASON)
        return CurrentUser(
            claims.user_id, claims.session_id, claims.jti, claims.expires_at, token, degraded=True
        )

    async def require_user(self, conn: HTTPConnection) -> CurrentUser:
        """FastAPI dependency: `user: CurrentUser = Depends(authenticator.require_user)`."""
        token = bearer_token(conn)
        if token is None:
            raise Unauthorized("missing bearer token", code="missing_token")
        return await self.authenticate(token)
