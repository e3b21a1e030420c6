"""The `chaosgate` command line: a root group whose subcommands load lazily, and one error boundary."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from chaosgate import __version__
from chaosgate.errors import ChaosgateError

# Subcommands live next to what they drive; they are imported only when used so that
# `chaosgate --help` stays fast and no subsystem is imported for nothing.
SUBCOMMANDS: dict[str, str] = {
    "proxy": "chaosgate.proxy.cli:proxy_group",
    "stack": "chaosgate.stack.cli:stack_group",
    "validate": "chaosgate.scenario.cli:validate_command",
    "run": "chaosgate.run_cli:run_command",
    "list": "chaosgate.run_cli:list_command",
    "report": "chaosgate.report.cli:report_command",
    "history": "chaosgate.report.cli:history_command",
    "compare": "chaosgate.report.cli:compare_command",
    "faults": "chaosgate.faults_cli:faults_command",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand module on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaosgate")
def cli() -> None:
    """Break a service stack on purpose and measure how ready it is."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every expected failure into one line and an exit code."""
    try:
        # standalone_mode=False hands exit codes back (ctx.exit) instead of calling sys.exit itself.
        code = cli.main(args=argv, prog_name="chaosgate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ChaosgateError as exc:
        click.echo(f"chaosgate: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug of ours: one line, and the traceback only when asked for
        if os.environ.get("CHAOSGATE_DEBUG"):
            raise
        click.echo(
            f"chaosgate: internal error: {type(exc).__name__}: {exc} (CHAOSGATE_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
