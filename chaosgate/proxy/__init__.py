"""chaosgate's Toxiproxy-compatible fault proxy: `ProxyServer` runs proxies, toxics and the HTTP API."""

from chaosgate.proxy.server import ProxyServer, ServerOptions

__all__ = ["ProxyServer", "ServerOptions"]
