"""Probe plugins: a system's user flows and ledger writers, found by name under an entry point group."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol

from chaosgate.errors import ValidationError
from chaosgate.probes.base import Probe, ProbeContext, ProbeSetup

ENTRY_POINT_GROUP = "chaosgate.probes"


class LedgerWriter(Protocol):
    """Writes items with unique ids, then reads back which ones the system kept (Jepsen's set checker)."""

    ephemeral: bool  # sessions, presence: counted apart from durable data

    async def write(self, ctx: ProbeContext, write_id: str) -> bool:
        """Attempt one write; True when the system acknowledged it."""
        ...

    async def read_back(self, ctx: ProbeContext) -> set[str]:
        """Every write id the system holds now."""
        ...


@dataclass(frozen=True)
class ProbePlugin:
    setup: ProbeSetup
    probes: Mapping[str, Probe]
    writers: Mapping[str, Callable[[], LedgerWriter]]


def load_plugin(name: str) -> ProbePlugin:
    """The plugin registered as `name`; an unknown name lists the installed ones."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in found:
        valid = ", ".join(sorted(found)) or "none installed"
        raise ValidationError(
            f"no probe plugin {name!r} (entry point group {ENTRY_POINT_GROUP}); valid: {valid}"
        )
    factory = found[name].load()
    plugin = factory()
    if not isinstance(plugin, ProbePlugin):
        raise ValidationError(f"probe plugin {name!r} did not return a ProbePlugin")
    return plugin
