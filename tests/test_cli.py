"""The command line's contract: version, help, and exit code 2 with one line for a bad command."""

from __future__ import annotations

import subprocess
import sys

from chaosgate import __version__


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosgate", *args], capture_output=True, text=True, timeout=60
    )


def test_version_is_printed() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_lists_the_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "proxy" in result.stdout
    assert "stack" in result.stdout


def test_unknown_command_exits_2_without_traceback() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-command" in result.stderr
