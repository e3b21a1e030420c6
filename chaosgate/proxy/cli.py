"""`chaosgate proxy ...`: run the Toxiproxy-compatible fault proxy from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from chaosgate.proxy.guard import UpstreamAllowList
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
    help=(
        "Let the API and the proxies listen beyond loopback and answer any Host name. Risky: the API has "
        "no authentication, so anyone who can reach it can break or redirect traffic through every "
        "proxy and open new listeners; keep it on a trusted network and bound the upstreams with "
        "--upstream-allow."
    ),
)
@click.option(
    "--upstream-allow",
    "upstream_allow",
    multiple=True,
    metavar="HOST_OR_NETWORK",
    help=(
        "Where proxies may connect: an IP, a network (10.0.0.0/8), an exact host name (redis) or * "
        "(anywhere). Repeatable; replaces the default, loopback only (127.0.0.0/8, ::1, localhost)."
    ),
)
@click.option(
    "--busy-poll",
    "busy_poll_us",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Microseconds to busy-poll after I/O (lower round-trip latency, more CPU); 0 disables.",
)
def serve(
    host: str,
    port: int,
    config: Path | None,
    allow_remote: bool,
    upstream_allow: tuple[str, ...],
    busy_poll_us: int,
) -> None:
    """Serve the Toxiproxy 2.x HTTP API and its proxies until SIGTERM or SIGINT."""
    try:
        upstreams = UpstreamAllowList.parse(upstream_allow)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--upstream-allow") from None
    options = ServerOptions(
        host=host,
        port=port,
        config=config,
        allow_remote=allow_remote,
        upstreams=upstreams,
        hot_window=busy_poll_us / 1e6,
    )
    ProxyServer(options).run()
