"""What a runtime hands its services besides chaos.yaml's env: the stack's kept secrets and the
switches, in the `a=on,b=off` form of `{switches}`."""

from __future__ import annotations

import os
import secrets
from collections.abc import Collection, Mapping
from pathlib import Path


def kept_secret(run_dir: Path, name: str) -> str:
    """A random secret (32 bytes, URL-safe) in `run_dir/name`, readable by its owner only (0600),
    generated the first time it is asked for: each stack signs tokens with its own secret, which
    nobody else knows, and restarts keep it (and the sessions signed with it)."""
    path = run_dir / name
    if not path.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made meanwhile by another caller: use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def format_switches(switches: Mapping[str, bool]) -> str:
    """`{"a": True, "b": False}` → `a=on,b=off` (`{switches}` in chaos.yaml's service env)."""
    return ",".join(f"{name}={'on' if on else 'off'}" for name, on in switches.items())


def parse_switches(items: Collection[str]) -> dict[str, bool]:
    """`["a=on", "b=off"]` → `{"a": True, "b": False}`; ValueError on anything else."""
    out: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or value not in ("on", "off"):
            raise ValueError(f"{item!r}: expected NAME=on or NAME=off")
        out[name.strip()] = value == "on"
    return out
