"""Time-ordered message ids (UUIDv7 layout), so a message store can cluster and page by id alone."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def new_message_id(now_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then random bits.

    Byte order equals time order, so PostgreSQL's uuid ordering (and a Cassandra clustering
    column) sorts messages by creation time and a message id doubles as a paging cursor.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b (62 bits)
    return uuid.UUID(int=value)


def id_time(message_id: uuid.UUID) -> datetime:
    """The creation time encoded in a time-ordered id."""
    return datetime.fromtimestamp((message_id.int >> 80) / 1000, tz=UTC)


def parse_uuid(text: str) -> uuid.UUID | None:
    """A UUID from user input, or None when it is not one (callers turn that into a 4xx)."""
    try:
        return uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return None
