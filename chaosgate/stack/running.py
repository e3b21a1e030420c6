"""What the harness needs of a running stack, whoever runs it: LocalStack (started here) or
RemoteStack (running elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chaosgate.topology import Topology


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
