"""The proxy server's root object: options, the proxies, the HTTP API, its loop and its signals."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosgate.errors import Location, StackError, ValidationError
from chaosgate.proxy.api import ToxiproxyApi
from chaosgate.proxy.api_server import IDLE_TIMEOUT, MAX_CONNECTIONS, ApiConnections
from chaosgate.proxy.collection import LOOPBACK_RULE, ProxyCollection
from chaosgate.proxy.guard import LOOPBACK_ONLY, RequestGuard, UpstreamAllowList
from chaosgate.proxy.models import ApiError, ProxyInput, parse_address
from chaosgate.proxy.timer import Timer, create_timer


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How `chaosgate proxy serve` was asked to run."""

    host: str = "127.0.0.1"
    port: int = 8474
    config: Path | None = None
    # Listen (API and proxies) beyond loopback, and answer API requests for any Host name.
    allow_remote: bool = False
    # Where proxies may connect (`--upstream-allow`); loopback only by default.
    upstreams: UpstreamAllowList = LOOPBACK_ONLY
    # Seconds an API connection gets to send each whole request (and to take each answer).
    api_idle_timeout: float = IDLE_TIMEOUT
    # Open API connections at most; at the cap the one idle longest is closed to make room.
    api_max_connections: int = MAX_CONNECTIONS
    # Seconds the loop busy-polls after I/O (0 disables): see `timer.TimerfdTimer`.
    hot_window: float = 0.0


def load_config(path: Path, upstreams: UpstreamAllowList = LOOPBACK_ONLY) -> list[dict[str, Any]]:
    """Read and check a proxies file (a JSON array of proxies) before anything is started."""
    where = Location(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read the proxies file: {exc.strerror}", where) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc.msg}", Location(path, exc.lineno)) from None
    if not isinstance(data, list):
        raise ValidationError("expected a JSON array of proxies, like Toxiproxy's -config file", where)
    for index, item in enumerate(data):
        try:
            proxy = ProxyInput.parse(item)
            upstreams.check(parse_address(proxy.upstream, field="upstream"))
            if proxy.listen:
                parse_address(proxy.listen, field="listen")
        except ApiError as exc:
            raise ValidationError(exc.message, Location(path, key=f"[{index}]")) from None
    return data


class ProxyServer:
    """Runs the HTTP API and the proxies in one event loop until told to stop."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.api_port = 0
        self._timer: Timer | None = None
        self._collection: ProxyCollection | None = None
        self._api_server: asyncio.Server | None = None
        self._api_connections: ApiConnections | None = None

    def _check_api_host(self) -> None:
        if (
            not self.options.allow_remote
            and not parse_address(f"{self.options.host}:0", field="--host").is_loopback
        ):
            raise ValidationError(f"--host {self.options.host}: {LOOPBACK_RULE}")

    async def start(self) -> None:
        """Check the options and the config file, bind the API, then create the configured proxies."""
        self._check_api_host()
        options = self.options
        config = load_config(options.config, options.upstreams) if options.config else []
        loop = asyncio.get_running_loop()
        self._timer = create_timer(loop, hot_window=options.hot_window)
        self._collection = ProxyCollection(
            timer=self._timer, allow_remote=options.allow_remote, upstreams=options.upstreams
        )
        self._api_connections = ApiConnections(
            ToxiproxyApi(self._collection),
            guard=RequestGuard(check_host=not options.allow_remote),
            idle_timeout=options.api_idle_timeout,
            max_connections=options.api_max_connections,
        )
        try:
            self._api_server = await asyncio.start_server(
                self._api_connections.handle, options.host, options.port, reuse_address=True
            )
        except OSError as exc:
            raise StackError(
                f"cannot listen on {self.options.host}:{self.options.port} for the proxy API: "
                f"{exc.strerror or exc}"
            ) from None
        self.api_port = self._api_server.sockets[0].getsockname()[1]
        assert self.options.config is not None or not config
        for index, item in enumerate(config):
            try:
                await self._collection.create(item)
            except ApiError as exc:
                await self.stop()
                where = Location(self.options.config or "", key=f"[{index}]")
                if exc.status >= 500:
                    raise StackError(f"{where}: {exc.message}") from None
                raise ValidationError(exc.message, where) from None

    async def stop(self) -> None:
        """Close the API listener, every proxy listener and every connection."""
        if self._api_server is not None:
            self._api_server.close()
            self._api_server = None
        if self._api_connections is not None:
            await self._api_connections.close()
        if self._collection is not None:
            await self._collection.close()
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    async def serve(self, stop: asyncio.Event, ready: Callable[[ProxyServer], None] | None = None) -> None:
        """Start, report readiness, run until `stop` is set, then stop."""
        await self.start()
        try:
            if ready is not None:
                ready(self)
            await stop.wait()
        finally:
            await self.stop()

    def run(self) -> None:
        """Serve in the foreground on a uvloop loop until SIGTERM or SIGINT; return when all is closed."""
        asyncio_run = _loop_runner()

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)

            def announce(server: ProxyServer) -> None:
                freeze_startup_objects()
                print(
                    f"chaosgate proxy: API listening on {self.options.host}:{server.api_port}",
                    file=sys.stderr,
                    flush=True,
                )

            try:
                await self.serve(stop, announce)
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)

        asyncio_run(main())


def freeze_startup_objects() -> None:
    """Take everything allocated so far out of the cyclic garbage collector's sight, for good.

    For the `proxy serve` process only, once it has started. Startup (imports, pydantic models,
    the API, configured proxies) leaves some 34,000 tracked objects, and one full collection over
    them takes 10-20 ms on a 2-vCPU VM: whenever a collection reaches the oldest generation, that
    pause lands on whatever the loop runs next, such as a latency toxic's due write. Frozen, they
    are never scanned again, so a collection only walks objects made while serving (a full
    collection right after freezing took 2 µs). Not for an in-process server (tests): freezing is
    process-wide.
    """
    gc.collect()
    gc.freeze()


def _loop_runner() -> Callable[[Any], None]:
    """`uvloop.run` where uvloop exists (it is much faster for the data plane), else `asyncio.run`."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run
