"""`chaosgate proxy ...`: run the Toxiproxy-compatible fault proxy from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from chaosgate.proxy.server import ProxyServer, ServerOptions


@click.group(name="proxy")
def proxy_group() -> None:
    """The Toxiproxy-compatible fault proxy."""


@proxy_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the HTTP API listens on.")
@click.option("--port", default=8474, show_default=True, type=click.IntRange(0, 65535), help="API port.")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A JSON array of proxies to create at start (like Toxiproxy's -config).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    default=False,
    help="Allow the API and proxies to listen on non-loopback addresses.",
)
@click.option(
    "--busy-poll",
    "busy_poll_us",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Microseconds to busy-poll after I/O (lower round-trip latency, more CPU); 0 disables.",
)
def serve(host: str, port: int, config: Path | None, allow_remote: bool, busy_poll_us: int) -> None:
    """Serve the Toxiproxy 2.x HTTP API and its proxies until SIGTERM or SIGINT."""
    options = ServerOptions(
        host=host, port=port, config=config, allow_remote=allow_remote, hot_window=busy_poll_us / 1e6
    )
    ProxyServer(options).run()
