"""Whether a port of this machine is free, and who holds it when it is not."""

from __future__ import annotations

import contextlib
import socket

import psutil

from chaosgate.stack.processes import MARKER
from chaosgate.topology import LOOPBACK


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
