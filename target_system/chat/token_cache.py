"""Verified access tokens remembered per process, so the send path does not redo JWT decoding per request.

A token string verifies the same way every time until it expires, so caching the claims is safe;
revocation is not affected, since the blacklist and session checks in Redis still run per request.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from target_system.common.tokens import AccessClaims, TokenCodec
from target_system.settings import Settings


class CachingTokenCodec(TokenCodec):
    """A TokenCodec whose `verify` answers repeated tokens from a bounded LRU of claims."""

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
