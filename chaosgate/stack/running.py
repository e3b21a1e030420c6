"""What the harness needs of a running stack, whoever runs it: LocalStack (started here) or
RemoteStack (running elsewhere). The engine asks the stack; it never checks which kind it has."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chaosgate.topology import Topology

if TYPE_CHECKING:
    from chaosgate.injection import FaultEnvironment


class RunningStack(Protocol):
    topology: Topology
    run_dir: Path  # this machine's state: the fault ledger, the watchdog's log
    profile: str
    switches: dict[str, bool]
    services: list[str]

    @property
    def proxy_api_url(self) -> str: ...

    @property
    def gateway_url(self) -> str: ...

    def url_of(self, component: str) -> str: ...

    def backends(self) -> dict[str, str]:
        """What stands in each store's role (role -> a few words), for reports."""
        ...

    def process_ids(self) -> list[int] | None:
        """The stack's live processes on this machine (the local runtime's servers), so that CPU
        outside them and the harness is a neighbour's; None where the stack runs elsewhere."""
        ...

    def restart(self, services: list[str]) -> list[str]:
        """Restart these services where this stack can (to end a failure that outlived its fault),
        giving back the ones restarted; a stack the harness cannot restart gives back []."""
        ...

    def fault_environment(self) -> FaultEnvironment:
        """What injectors may touch on this stack: its addresses, and its processes where this
        machine runs them."""
        ...
