"""Who may drive the proxy API and where its proxies may lead.

- `RequestGuard` refuses what a web page could send: a Host that is not a loopback name (a page
  reaching the API by DNS rebinding) and a browser `Origin` that is not a loopback page (a page
  posting to it across sites). Toxiproxy's clients, httpx and curl send no Origin.
- `UpstreamAllowList` bounds where proxies connect to, so that an API others can reach is not a
  relay into the network around it: loopback unless `--upstream-allow` says otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chaosgate.proxy.models import Address, ApiError, is_loopback_host

# A Host header (or an Origin's authority): a name or [IPv6], with an optional port.
_AUTHORITY = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[^:\[\]/@?#\s]+))(?::[0-9]{1,5})?")
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")
LOOPBACK_NAMES = "localhost, 127.0.0.1, [::1]"


def _authority_host(text: str) -> str | None:
    match = _AUTHORITY.fullmatch(text)
    if match is None:
        return None
    return match["v6"] or match["name"]


def _is_loopback_authority(text: str) -> bool:
    host = _authority_host(text)
    return host is not None and is_loopback_host(host)


def _is_loopback_origin(text: str) -> bool:
    """`http(s)://<loopback name>[:port]`; "null" (a sandboxed or file:// page) is not one."""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and not parts.path and _is_loopback_authority(parts.netloc)


@dataclass(frozen=True)
class RequestGuard:
    """Checks each API request's Host (unless `--allow-remote`) and Origin before it is routed."""

    check_host: bool = True

    def refusal(self, headers: Sequence[tuple[bytes, bytes]]) -> ApiError | None:
        """The 403 to answer instead of routing the request, or None. A request without Host is fine."""
        for name, raw in headers:
            value = raw.decode("latin-1")
            if name == b"host" and self.check_host and not _is_loopback_authority(value):
                return ApiError(
                    403,
                    f"Host {value!r} is not a loopback name ({LOOPBACK_NAMES}): refused, as a web page "
                    "reaching this API by DNS rebinding would send it; start the server with "
                    "--allow-remote to answer other names",
                )
            if name == b"origin" and not _is_loopback_origin(value):
                return ApiError(
                    403,
                    f"Origin {value!r} is not a loopback page: the proxy API does not answer requests "
                    "sent by web pages from other sites",
                )
        return None


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NETWORKS: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
ANYWHERE = "*"


@dataclass(frozen=True)
class UpstreamAllowList:
    """Where proxies may connect: IP networks and exact host names (matched as written, never
    resolved), or anywhere. The default is loopback only; `parse` replaces it with what is given."""

    networks: tuple[IpNetwork, ...] = LOOPBACK_NETWORKS
    names: frozenset[str] = frozenset({"localhost"})
    anywhere: bool = False
    entries: tuple[str, ...] = field(default=(), compare=False)  # as given, for messages

    @classmethod
    def parse(cls, entries: Iterable[str]) -> UpstreamAllowList:
        """From `--upstream-allow` values; a ValueError names the entry that is none of the forms."""
        given = tuple(entry.strip() for entry in entries)
        if not given:
            return cls()
        networks: list[IpNetwork] = []
        names: set[str] = set()
        for entry in given:
            if entry == ANYWHERE:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"{entry!r} is not an IP address, a network (10.0.0.0/8), a host name (redis) "
                    f"or {ANYWHERE} (anywhere); give hosts without a port"
                )
            names.add(name)
        return cls(tuple(networks), frozenset(names), ANYWHERE in given, given)

    def allows(self, host: str) -> bool:
        if self.anywhere:
            return True
        name = host.lower().rstrip(".")
        if name == "localhost":
            return name in self.names or any(self._in_networks(ip) for ip in ("127.0.0.1", "::1"))
        return self._in_networks(host) if _is_ip(host) else name in self.names

    def _in_networks(self, host: str) -> bool:
        ip = ipaddress.ip_address(host)
        return any(ip in network for network in self.networks)

    def check(self, upstream: Address) -> Address:
        """`upstream` if allowed, else a 403 that says how the server would allow it."""
        if self.allows(upstream.host):
            return upstream
        if self.entries:
            rule = f"it is not in --upstream-allow ({', '.join(self.entries)})"
        else:
            rule = (
                "this server relays only to loopback addresses (127.0.0.0/8, ::1, localhost); "
                "start it with --upstream-allow HOST_OR_NETWORK to allow others"
            )
        raise ApiError(403, f"upstream {upstream}: {rule}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


LOOPBACK_ONLY = UpstreamAllowList()
