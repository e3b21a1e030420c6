"""`chaosgate stack ...`: bring the local stack up, show its status and logs, take it down."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from chaosgate import compose
from chaosgate.config import load_topology
from chaosgate.errors import Location, ValidationError
from chaosgate.progress import StackProgress
from chaosgate.stack import compose_files
from chaosgate.stack.compose_runtime import ComposeStack, ImageSetChoice
from chaosgate.stack.events import Observer
from chaosgate.stack.handover import parse_switches
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.processes import follow, tail
from chaosgate.stack.remote import RemoteStack
from chaosgate.topology import Topology
from chaosgate.yamlio import load_yaml

config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default="chaos.yaml",
    show_default=True,
    envvar="CHAOSGATE_CONFIG",
    help="The topology file.",
)
run_dir_option = click.option(
    "--run-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="CHAOSGATE_RUN_DIR",
    help="Where data, logs and state live [default: chaos.yaml's run_dir, next to it].",
)
runtime_option = click.option(
    "--runtime",
    type=click.Choice(["local", "compose"]),
    default=None,
    envvar="CHAOSGATE_RUNTIME",
    help="Local processes, or `docker compose` with upstream images [default: chaos.yaml's runtime].",
)
images_option = click.option(
    "--images",
    "image_set",
    type=click.Choice([choice.value for choice in ImageSetChoice]),
    default=ImageSetChoice.UPSTREAM.value,
    show_default=True,
    envvar="CHAOSGATE_IMAGES",
    help="With --runtime compose: the upstream images (a registry), or the local image set built here "
    "without one (`chaosgate stack images build`; built first if needed).",
)


def _runtime(runtime: str | None, config: Path) -> str:
    return runtime or _topology(config).runtime


def _topology(config: Path) -> Topology:
    return load_topology(config)


def _stack(config: Path, run_dir: Path | None, observer: Observer | None = None) -> LocalStack:
    return LocalStack(_topology(config), run_dir=run_dir, observer=observer)


def _refuse_remote(config: Path, command: str) -> None:
    """`stack up`/`down` manage this machine's stack: with chaos.yaml's `remote:` there is none."""
    topology = _topology(config)
    if topology.remote is not None:
        where = load_yaml(topology.source).location("remote")
        raise ValidationError(
            f"`chaosgate stack {command}`: the stack at {topology.host} is started and stopped where it "
            "runs; `chaosgate stack status` checks it, `chaosgate run` uses it",
            where,
        )


def _remote_status(topology: Topology, as_json: bool) -> None:
    """Check a remote stack's fault proxy and gateway, and list its proxies (exit 3 if unreachable)."""
    stack = RemoteStack(topology)
    stack.check()  # StackError (exit 3) names the URL and the chaos.yaml key
    proxies = httpx.get(f"{stack.proxy_api_url}/proxies", timeout=5, trust_env=False).json()
    if as_json:
        report = {"host": topology.host, "proxy_api": stack.proxy_api_url, "gateway": stack.gateway_url}
        click.echo(json.dumps({**report, "proxies": proxies}, indent=2))
        return
    console = _wide_console()
    console.print(f"remote stack at {topology.host} (profile {stack.profile})")
    console.print(f"proxy API {stack.proxy_api_url} answers\ngateway   {stack.gateway_url} answers")
    for proxy in proxies.values():
        console.print(_proxy_line(proxy))


def _proxy_line(proxy: dict[str, Any]) -> str:
    state = "enabled" if proxy.get("enabled") else "disabled"
    toxics = len(proxy.get("toxics") or [])
    route = f"{proxy.get('listen')} → {proxy.get('upstream')}"
    return f"proxy {proxy.get('name')}: {route} ({state}, {toxics} toxics)"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wide_console() -> Console:
    # Piped output (CI logs, tests) gets rich's default 80 columns, too narrow for URLs.
    console = Console()
    return console if console.is_terminal else Console(width=160)


@click.group(name="stack")
def stack_group() -> None:
    """The local stack: real stores, the fault proxy and the services, as local processes."""


@stack_group.command("up")
@click.option("--profile", default=None, help="One of chaos.yaml's `profiles` [default: default_profile].")
@click.option("--switch", "switch_items", multiple=True, metavar="NAME=on|off", help="Override one switch.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for each wave to be healthy."
)
@config_option
@run_dir_option
@runtime_option
@images_option
def up(
    profile: str | None,
    switch_items: tuple[str, ...],
    timeout: float,
    config: Path,
    run_dir: Path | None,
    runtime: str | None,
    image_set: str,
) -> None:
    """Start stores, proxy and services in dependency order and wait until all are healthy."""
    try:
        switches = parse_switches(switch_items)
    except ValueError as exc:
        raise ValidationError(f"--switch {exc}") from None
    _refuse_remote(config, "up")
    profile = profile or _topology(config).profile
    _topology(config).check_profile(profile)
    if _runtime(runtime, config) == "compose":
        composed = ComposeStack(
            _topology(config),
            images=ImageSetChoice(image_set),
            run_dir=run_dir,
            say=Console(stderr=True).print,
        )
        # --timeout is per wave locally; compose waits for everything at once, and Cassandra is slow.
        composed.up(profile=profile, switches=switches, timeout=max(timeout, 300.0))
        Console().print(f"gateway   {composed.gateway_url}\nproxy API {composed.proxy_api_url} (Toxiproxy)")
        return
    console = Console(stderr=True)
    progress = StackProgress(console)
    stack = LocalStack(
        _topology(config),
        run_dir=run_dir,
        profile=profile,
        switches=switches,
        health_timeout=timeout,
        observer=progress,
    )
    # SIGTERM (a CI timeout, `kill`) takes the same path as Ctrl-C: `up` stops what it started.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with progress.status:
            started = stack.up()
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = Console()
    if not started:
        out.print(f"the stack in {stack.run_dir} is already running (profile {stack.profile}); nothing done")
    out.print(f"gateway   {stack.gateway_url}")
    out.print(f"proxy API {stack.proxy_api_url}")
    for name in stack.services:
        if name != stack.topology.gateway:
            out.print(f"{name:<9} {stack.url_of(name)}")
    out.print(f"logs      {stack.run_dir / 'logs'}")


@stack_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@config_option
@run_dir_option
@runtime_option
def status(as_json: bool, config: Path, run_dir: Path | None, runtime: str | None) -> None:
    """Show each component's process and health, and the proxies. Exit 3 when not all are healthy."""
    if _topology(config).remote is not None:
        _remote_status(_topology(config), as_json)
        return
    if _runtime(runtime, config) == "compose":
        containers = ComposeStack(_topology(config), run_dir=run_dir).status()
        if as_json:
            listed = [{**vars(container), "healthy": container.healthy} for container in containers]
            click.echo(json.dumps(listed, indent=2))
        else:
            for container in containers:
                line = f"{container.service:<14} {container.state:<9} {container.health or '-':<10}"
                click.echo(f"{line} {container.image}".rstrip())
        sys.exit(0 if all(container.healthy for container in containers) else 3)
    report = _stack(config, run_dir).status()
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        table = Table(title=f"stack in {report.run_dir} (profile {report.profile})")
        for column in ("component", "kind", "pid", "health", "url", "detail"):
            table.add_column(column)
        for c in report.components:
            health = (
                "[green]healthy[/]" if c.healthy else ("[red]unhealthy[/]" if c.alive else "[red]down[/]")
            )
            table.add_row(c.name, c.kind.value, str(c.pid or "-"), health, c.url, c.detail)
        console = _wide_console()
        console.print(table)
        for proxy in report.proxies:
            console.print(_proxy_line(proxy))
        console.print(f"gateway {report.gateway_url}")
    sys.exit(0 if report.up else 3)


@stack_group.command("logs")
@click.argument("name")
@click.option("-n", "lines", default=50, show_default=True, help="How many lines to show.")
@click.option("-f", "follow_log", is_flag=True, help="Keep printing what is appended.")
@config_option
@run_dir_option
def logs(name: str, lines: int, follow_log: bool, config: Path, run_dir: Path | None) -> None:
    """Show the log of one component (a service, a store or `proxy`)."""
    stack = _stack(config, run_dir)
    path = stack.table.log_path(name)
    known = [*stack.topology.stores, "proxy", *stack.topology.services]
    if name not in known:
        raise ValidationError(f"no component named {name!r}; valid: {', '.join(known)}")
    if not path.is_file():
        raise ValidationError(f"{name} has no log yet ({path}); has the stack been started?")
    text = tail(path, lines)
    if text:
        click.echo(text)
    if follow_log:
        follow(path, sys.stdout)


@stack_group.command("down")
@config_option
@run_dir_option
@runtime_option
def down(config: Path, run_dir: Path | None, runtime: str | None) -> None:
    """Stop everything the stack started (SIGTERM, then SIGKILL after a grace period)."""
    _refuse_remote(config, "down")
    if _runtime(runtime, config) == "compose":
        ComposeStack(_topology(config), run_dir=run_dir).down()
        Console().print("compose stack is down")
        return
    console = Console(stderr=True)
    progress = StackProgress(console)
    stack = _stack(config, run_dir, observer=progress)
    with progress.status:
        stopped = stack.down()
    Console().print("stack is down" if stopped else "nothing was running")


@stack_group.command("compose-file")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 and show the diff if stale.")
@config_option
def compose_file(check_only: bool, config: Path) -> None:
    """Generate docker-compose.yml and deploy/ (Toxiproxy, Prometheus) from chaos.yaml, or check them."""
    topology = _topology(config)
    try:
        if check_only:
            stale = compose_files.check(topology)
            for diff in stale:
                click.echo(diff, nl=not diff.endswith("\n"))
            if stale:
                click.echo("compose files are out of date: run `chaosgate stack compose-file`", err=True)
                sys.exit(1)
            click.echo("compose files are current")
            return
        changed = compose_files.write(topology)
    except compose.ComposeError as exc:
        raise ValidationError(str(exc), Location(topology.source)) from None
    for path in changed:
        click.echo(f"wrote {path}")
    if not changed:
        click.echo("compose files are current")


@stack_group.group("images")
def images_group() -> None:
    """The compose runtime's local image set: every role's image built here, without a registry."""


@images_group.command("build")
@config_option
def images_build(config: Path) -> None:
    """Build the local image set (debootstrap, Debian's packages, PyPI), skipping what is current."""
    from chaosgate.stack.images import ImageSet

    err = Console(stderr=True)
    done = ImageSet(_topology(config), say=err.print).build()
    for image in done:
        what = f"built in {image.seconds:.0f}s" if image.built else "current"
        click.echo(f"{image.name:<40} {what}")
