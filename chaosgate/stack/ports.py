"""Whether a port of this machine is free, and who holds it when it is not."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Collection

import psutil

from chaosgate.errors import StackError
from chaosgate.stack.processes import MARKER
from chaosgate.topology import LOOPBACK, Topology


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (bind test, as the server would do it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> str:
    """'pid N (name)' of the process listening on `port`, when the process table tells; for a
    process of another chaosgate stack, also the run dir to take down."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                try:
                    proc = psutil.Process(conn.pid)
                    holder = f"pid {conn.pid} ({proc.name()})"
                    with contextlib.suppress(psutil.Error):
                        other = proc.environ().get(MARKER)
                        if other:
                            holder += (
                                f" of the chaosgate stack in {other} (chaosgate stack down --run-dir {other})"
                            )
                    return holder
                except psutil.Error:
                    return f"pid {conn.pid}"
    return ""


def require_free_ports(topology: Topology, services: Collection[str]) -> None:
    """Every port the stack will listen on (its stores, proxy and links, the chosen `services`) is
    free; else a StackError naming the port, its owner in chaos.yaml and who holds it."""
    for port, owner in topology.ports():
        if owner.startswith("service ") and owner.removeprefix("service ") not in services:
            continue
        if not port_free(port):
            holder = port_holder(port)
            by = f" by {holder}" if holder else ""
            raise StackError(
                f"port {port} for {owner} is already in use{by}; "
                f"stop it or change the port in {topology.source}"
            )
