"""Runs Locust headless in processes of its own (one, or a master and N workers), bounded in time."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from chaosgate.errors import RunError
from chaosgate.load.plan import ENV_GAUGE_DIR
from chaosgate.load.stats import AGGREGATED, HistoryRow, read_history

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_WAIT_S = 15.0  # Locust writes its final CSV on SIGTERM; past this it is killed


def _die_with_parent() -> None:
    """In the child, before exec: a SIGTERM when the harness dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG, which follows the thread that forked: start() runs on the event loop's thread,
    which lives as long as the run), so no load outlives its run; the watchdog cannot reach a
    process in its own session, and --run-time alone would let it hammer the stack for minutes."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the harness died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocustRun:
    """One Locust load run against `host`; `start()`, `await ready()`, `stop()` (idempotent)."""

    host: str
    users: int
    spawn_rate: float
    run_time_s: int  # Locust stops itself after this even if the harness never calls stop()
    out_dir: Path
    workers: int = 0
    locustfile: Path = LOCUSTFILE
    environment: dict[str, str] = field(default_factory=dict)  # for the Locust processes (open-loop plan)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started_at: float = 0.0
    stopped_at: float = 0.0
    cpu_s: float = 0.0  # CPU seconds the Locust processes used, read just before they were stopped

    @property
    def prefix(self) -> Path:
        return self.out_dir / "locust"

    @property
    def history_path(self) -> Path:
        return Path(f"{self.prefix}_stats_history.csv")

    @property
    def totals_path(self) -> Path:
        return Path(f"{self.prefix}_stats.csv")

    def _command(self, *role: str) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(self.locustfile), *role]

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.out_dir.glob("openloop-*.json"):  # an earlier run's gauges must not count
            stale.unlink(missing_ok=True)
        common = [
            "--headless",
            "-u", str(self.users),
            "-r", f"{self.spawn_rate:g}",
            "--host", self.host,
            "--run-time", f"{self.run_time_s}s",
            "--stop-timeout", "2",
            "--csv", str(self.prefix),
            "--csv-full-history",
            "--only-summary",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        if self.workers <= 0:
            self._spawn(self._command(*common), "locust")
        else:
            port = _free_port()
            # Loopback unless the operator opens it for workers on other machines (README, "CI").
            bind = os.environ.get("LOCUST_MASTER_BIND_HOST", "127.0.0.1")
            master = [
                "--master",
                "--master-bind-host", bind,
                "--master-bind-port", str(port),
                "--expect-workers", str(self.workers),
                "--expect-workers-max-wait", "30",
            ]  # fmt: skip
            self._spawn(self._command(*common, *master), "locust-master")
            for i in range(self.workers):
                worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
                self._spawn(self._command(*worker, "--loglevel", "WARNING"), f"locust-worker-{i}")
        self.started_at = time.time()

    def _spawn(self, command: list[str], name: str) -> None:
        log = (self.out_dir / f"{name}.log").open("wb")
        # Its own session: a signal to the harness's group never reaches Locust half-way, and
        # stop() signals exactly these processes by pid.
        env = {**os.environ, **self.environment, ENV_GAUGE_DIR: str(self.out_dir)}
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._processes.append(process)

    def history(self) -> list[HistoryRow]:
        return read_history(self.history_path)

    def gauges(self) -> list[dict[str, Any]]:
        """What each open-loop Locust process last wrote (chaosgate.load.openloop.Gauge.snapshot)."""
        found = []
        for path in sorted(self.out_dir.glob("openloop-*.json")):
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        return found

    def exited(self) -> bool:
        """Whether every Locust process has ended (on its own, or stopped)."""
        return all(process.poll() is not None for process in self._processes)

    def _read_cpu(self) -> float:
        total = 0.0
        for process in self._processes:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(process.pid).cpu_times()
                total += times.user + times.system
        return total

    async def ready(self, timeout_s: float = 45.0) -> None:
        """Until every user has spawned and load flows; RunError if Locust exits or stalls.

        An open-loop locustfile (chaosgate.load.openloop) says so itself: every user has tried its
        setup and arrivals have begun. Any other: the stats history counts every user and requests.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            master = self._processes[0]
            if master.poll() is not None:
                raise RunError(f"Locust exited early ({master.returncode}); see {self.out_dir}/*.log")
            gauges = self.gauges()
            if gauges:
                started = sum(int(g.get("users_started", 0)) for g in gauges)
                if started >= self.users and sum(int(g.get("arrivals", 0)) for g in gauges) > 0:
                    return
            else:
                rows = [r for r in self.history() if r.name == AGGREGATED]
                if rows and rows[-1].users >= self.users and rows[-1].requests > 0:
                    return
            await asyncio.sleep(0.25)
        raise RunError(f"Locust did not spawn {self.users} users within {timeout_s:g}s; see {self.out_dir}")

    def stop(self) -> None:
        """SIGTERM (Locust writes its final stats), then SIGKILL whatever is left after STOP_WAIT_S."""
        if not self._processes:
            return
        if not self.stopped_at:
            self.stopped_at = time.time()
        self.cpu_s = max(self.cpu_s, self._read_cpu())
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for process in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._processes.clear()
