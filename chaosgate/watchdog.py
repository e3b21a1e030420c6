"""The dead man's switch: a detached process that removes faults whose deadline passed or whose runner died.

The runner starts one per run (`python -m chaosgate.watchdog ...`, in its own session so a Ctrl-C
or a SIGKILL of the runner does not reach it) and terminates it after its own rollback. While the
runner lives, the watchdog removes only faults past their deadline; once the runner is gone, it
removes everything still active in the ledger and exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import psutil

from chaosgate.config import load_topology
from chaosgate.faults import FaultController, FaultLedger
from chaosgate.injection import FaultEnvironment
from chaosgate.registry import default_injectors
from chaosgate.stack.launcher import LocalStack
from chaosgate.stack.processes import ProcessTable
from chaosgate.stack.remote import RemoteStack, attaches
from chaosgate.topology import Topology

POLL_S = 0.25


def spawn(*, ledger: Path, config: Path, run_dir: Path, owner_pid: int, log: Path) -> subprocess.Popen[bytes]:
    """Start a watchdog for `owner_pid`'s faults, detached from the caller's session."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaosgate.watchdog",
                "--ledger",
                str(ledger),
                "--config",
                str(config),
                "--run-dir",
                str(run_dir),
                "--owner",
                str(owner_pid),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def environment(topology: Topology, run_dir: Path) -> FaultEnvironment:
    """The fault environment of the stack in `run_dir`, with the profile it was started with."""
    if attaches(topology):
        return RemoteStack(topology, run_dir=run_dir).fault_environment()
    state = ProcessTable(run_dir).state
    stack = LocalStack(topology, run_dir=run_dir, profile=state.profile, switches=state.switches)
    return stack.fault_environment()


def watch(controller: FaultController, owner_pid: int, *, poll_s: float = POLL_S) -> None:
    """Remove expired faults while the owner lives; everything once it is gone; then return."""
    while True:
        owner_alive = psutil.pid_exists(owner_pid) and _not_zombie(owner_pid)
        for problem in controller.rollback(only_expired=owner_alive):
            print(f"watchdog: {problem}", flush=True)  # retried on the next tick
        if not owner_alive and not controller.ledger.active():
            controller.ledger.compact()
            return
        time.sleep(poll_s)


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chaosgate.watchdog", description=__doc__)
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--owner", type=int, required=True)
    args = parser.parse_args(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # the owner finished its own rollback and dismissed us

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    topology = load_topology(args.config)
    controller = FaultController(
        FaultLedger(args.ledger), default_injectors(), environment(topology, args.run_dir)
    )
    print(f"watchdog {os.getpid()}: watching {args.ledger} for runner {args.owner}", flush=True)
    try:
        watch(controller, args.owner)
    finally:
        controller.close()


if __name__ == "__main__":
    main()
