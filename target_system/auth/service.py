"""What auth does: register, login (with lockout), refresh (rotating), logout, me, email verification."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from target_system.auth.models import LoginIn, RegisterIn, TokenPair, UserOut
from target_system.auth.passwords import Passwords
from target_system.auth.state import AuthState, SessionRecord
from target_system.common.errors import BadRequest, Conflict, NotFound, RateLimited, Unauthorized
from target_system.common.sql import SqlStore
from target_system.common.tokens import CurrentUser, TokenCodec
from target_system.settings import Settings

VERIFICATION_TTL = timedelta(hours=24)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_out(row: asyncpg.Record) -> UserOut:
    return UserOut(
        id=str(row["id"]),
        email=row["email"],
        display_name=row["display_name"],
        email_verified=row["email_verified"],
    )


class AuthService:
    """The auth use cases over SQL (users), `AuthState` (sessions, blacklist, lockout) and tokens."""

    def __init__(
        self, settings: Settings, sql: SqlStore, state: AuthState, codec: TokenCodec, passwords: Passwords
    ) -> None:
        self._sql = sql
        self._state = state
        self._codec = codec
        self._passwords = passwords
        self._refresh_ttl = settings.tunables.jwt_refresh_ttl
        self._lock_window = settings.tunables.lockout_window

    async def register(self, body: RegisterIn) -> UserOut:
        password_hash = await self._passwords.hash(body.password)
        user_id = uuid.uuid4()
        async with self._sql.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO users (id, email, display_name, password_hash) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (email) DO NOTHING RETURNING id, email, display_name, email_verified",
                user_id,
                body.email,
                body.display_name,
                password_hash,
            )
            if row is None:
                raise Conflict("an account with this email exists", code="email_taken")
            await tx.execute(
                "INSERT INTO email_verification_tokens (token, user_id, expires_at) VALUES ($1, $2, $3)",
                secrets.token_urlsafe(32),
                user_id,
                datetime.now(UTC) + VERIFICATION_TTL,
            )
        return _user_out(row)

    async def login(self, body: LoginIn) -> TokenPair:
        attempt = await self._state.count_attempt(body.email)
        if self._state.is_locked(attempt):
            raise RateLimited(
                "too many failed logins; try again later",
                code="account_locked",
                headers={"Retry-After": str(self._lock_window)},
            )
        try:
            row = await self._sql.fetchrow("SELECT id, password_hash FROM users WHERE email = $1", body.email)
        except Exception:
            with contextlib.suppress(Exception):  # the store's own error is the one to report
                await self._state.give_back_attempt(body.email)
            raise
        if row is None:
            await self._passwords.burn(body.password)
            ok = False
        else:
            ok = await self._passwords.verify(row["password_hash"], body.password)
        if not ok:
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        return await self._open_session(str(row["id"]) if row else "", clear_lockout_of=body.email)

    async def _open_session(
        self, user_id: str, session_id: str | None = None, *, clear_lockout_of: str | None = None
    ) -> TokenPair:
        sid = session_id or uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        await self._state.put_session(
            sid,
            SessionRecord(user_id, _digest(secret), time.time() + self._refresh_ttl),
            clear_lockout_of=clear_lockout_of,
        )
        access, _ = self._codec.issue(user_id, sid)
        return TokenPair(
            access_token=access,
            refresh_token=f"{sid}.{secret}",
            expires_in=self._codec.access_ttl,
            user_id=user_id,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new token pair for a valid refresh token; the old refresh token stops working (rotation).

        Presenting an already-rotated refresh token ends the session: it was copied or replayed.
        """
        sid, sep, secret = refresh_token.partition(".")
        if not sep or not sid or not secret:
            raise Unauthorized("malformed refresh token", code="invalid_refresh_token")
        record = await self._state.get_session(sid)
        if record is None or record.expires_at <= time.time():
            raise Unauthorized("session has ended", code="session_ended")
        if not hmac.compare_digest(record.refresh_hash, _digest(secret)):
            await self._state.delete_session(sid)
            raise Unauthorized("refresh token was already used; session ended", code="refresh_reused")
        return await self._open_session(record.user_id, sid)

    async def logout(self, user: CurrentUser) -> None:
        await self._state.revoke(user.jti, user.expires_at)
        await self._state.delete_session(user.session_id)

    async def me(self, user: CurrentUser) -> UserOut:
        try:
            user_id = uuid.UUID(user.user_id)
        except ValueError:
            raise Unauthorized("token names no user", code="invalid_token") from None
        row = await self._sql.fetchrow(
            "SELECT id, email, display_name, email_verified FROM users WHERE id = $1", user_id
        )
        if row is None:
            raise NotFound("user no longer exists", code="user_not_found")
        return _user_out(row)

    async def verify_email(self, token: str) -> UserOut:
        async with self._sql.transaction() as tx:
            user_id = await tx.fetchval(
                "DELETE FROM email_verification_tokens WHERE token = $1 AND expires_at > now() "
                "RETURNING user_id",
                token,
            )
            if user_id is None:
                raise BadRequest("unknown or expired verification token", code="invalid_verification_token")
            row = await tx.fetchrow(
                "UPDATE users SET email_verified = true WHERE id = $1 "
                "RETURNING id, email, display_name, email_verified",
                user_id,
            )
        if row is None:
            raise NotFound("user no longer exists", code="user_not_found")
        return _user_out(row)
