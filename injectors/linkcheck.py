"""Protocol-aware one-shot round trips through a link, so an injector can see its fault take effect."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from enum import StrEnum


class LinkKind(StrEnum):
    REDIS = "redis"
    POSTGRES = "postgres"
    HTTP = "http"


# The smallest request each protocol answers at once: Redis PING, PostgreSQL's SSLRequest
# (answered with one byte, 'N' or 'S', before any authentication), and an HTTP liveness GET.
_REQUESTS = {
    LinkKind.REDIS: b"PING\r\n",
    LinkKind.POSTGRES: struct.pack("!ii", 8, 80877103),
    LinkKind.HTTP: b"GET /health/live HTTP/1.0\r\nHost: chaosgate\r\n\r\n",
}


class LinkResult(StrEnum):
    REPLIED = "replied"
    REFUSED = "refused"  # no listener: the link is down
    RESET = "reset"  # the peer reset the connection
    CLOSED = "closed"  # closed without a reply
    SILENT = "silent"  # no reply within the budget


@dataclass(frozen=True)
class LinkCheck:
    result: LinkResult
    elapsed_s: float

    def __str__(self) -> str:
        return f"{self.result.value} after {self.elapsed_s * 1000:.0f} ms"


def round_trip(
    host: str, port: int, kind: LinkKind, *, budget_s: float, until_closed: bool = False
) -> LinkCheck:
    """Connect, send the protocol's smallest request, wait up to `budget_s` for the first reply byte
    (with `until_closed`, keep reading until the peer closes or resets the connection)."""
    started = time.monotonic()

    def done(result: LinkResult) -> LinkCheck:
        return LinkCheck(result, time.monotonic() - started)

    try:
        sock = socket.create_connection((host, port), timeout=budget_s)
    except ConnectionRefusedError:
        return done(LinkResult.REFUSED)
    except TimeoutError:
        return done(LinkResult.SILENT)
    except ConnectionResetError:
        return done(LinkResult.RESET)
    except OSError:
        return done(LinkResult.CLOSED)
    with sock:
        try:
            sock.sendall(_REQUESTS[kind])
            remaining = max(0.01, budget_s - (time.monotonic() - started))
            sock.settimeout(remaining)
            first = sock.recv(1)
            while until_closed and first:
                sock.settimeout(max(0.01, budget_s - (time.monotonic() - started)))
                if not sock.recv(65536):
                    return done(LinkResult.CLOSED)
        except ConnectionResetError:
            return done(LinkResult.RESET)
        except TimeoutError:
            return done(LinkResult.SILENT)
        except OSError:
            return done(LinkResult.CLOSED)
        return done(LinkResult.REPLIED if first else LinkResult.CLOSED)
