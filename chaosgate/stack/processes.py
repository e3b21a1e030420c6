"""Local processes of a stack: spawning into own process groups, state.json, stopping, orphan sweeping."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO

import psutil
from pydantic import BaseModel, Field

from chaosgate.errors import StackError

# Every process a stack starts carries this variable (value: the resolved run dir), so leftovers
# can be found from the process table even if the CLI died between fork and writing state.json.
MARKER = "CHAOSGATE_STACK"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"

_Reaper = Callable[[], None]


class ProcessKind(StrEnum):
    STORE = "store"
    PROXY = "proxy"
    SERVICE = "service"
    HELPER = "helper"  # short-lived: initdb and the like


class ProcessRecord(BaseModel):
    """One process we started, with what it takes to find it again and stop it safely."""

    name: str
    kind: ProcessKind
    pid: int
    pgid: int
    started_at: float  # psutil create_time: guards against acting on a reused pid
    argv: list[str]
    log: str
    port: int | None = None
    stop_signal: int = int(signal.SIGTERM)


class StackState(BaseModel):
    """Contents of `<run-dir>/state.json`."""

    profile: str = ""  # chaos.yaml's default profile when empty (a state file from before profiles)
    switches: dict[str, bool] = Field(default_factory=dict)
    complete: bool = False  # true once `up` saw everything healthy
    processes: dict[str, ProcessRecord] = Field(default_factory=dict)


class ProcessTable:
    """The processes of one run dir. Writes state.json on every change, so a crash loses nothing."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.state_path = self.run_dir / STATE_FILE
        self.logs_dir = self.run_dir / "logs"
        self.state = self._read()
        # Popen handles of children of this very process: polling them reaps zombies.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # Stores start in parallel threads; state changes and writes happen one at a time.
        self._mutex = threading.RLock()

    # -- state.json ------------------------------------------------------------------------------

    def _read(self) -> StackState:
        try:
            return StackState.model_validate_json(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StackState()
        except ValueError:
            # A state file torn by a crash is not fatal: the marker sweep still finds our processes.
            return StackState()

    def reload(self) -> None:
        self.state = self._read()

    def save(self) -> None:
        with self._mutex:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state.model_dump(mode="json"), indent=2), encoding="utf-8")
            os.replace(tmp, self.state_path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run dir's lock: one up/down at a time. The kernel drops it if we are killed."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / LOCK_FILE, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StackError(f"another chaosgate command is working on {self.run_dir}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- spawning --------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        kind: ProcessKind,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> ProcessRecord:
        """Start `argv` in its own process group, logging to logs/<name>.log; recorded before return."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(name)
        full_env = dict(os.environ if env is None else env)
        full_env[MARKER] = str(self.run_dir)
        with open(log, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {' '.join(argv)}\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    user=user,
                    start_new_session=True,  # own session and group: killpg reaches its children
                )
            except OSError as exc:
                raise StackError(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from None
        try:
            started_at = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            started_at = 0.0
        record = ProcessRecord(
            name=name,
            kind=kind,
            pid=proc.pid,
            pgid=proc.pid,
            started_at=started_at,
            argv=list(argv),
            log=str(log),
            port=port,
            stop_signal=int(stop_signal),
        )
        with self._mutex:
            self._children[proc.pid] = proc
            self.state.processes[name] = record
            self.save()
        return record

    def run_to_end(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout: float,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Run a short helper (tracked like any process) and wait for it; returns its exit code."""
        record = self.spawn(name, argv, kind=ProcessKind.HELPER, user=user, env=env, cwd=cwd)
        proc = self._children[record.pid]
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(name, grace=1.0)
            raise StackError(f"{name} did not finish within {timeout:.0f}s; see {record.log}") from None
        self.forget(name)
        return code

    def forget(self, name: str) -> None:
        with self._mutex:
            if self.state.processes.pop(name, None) is not None:
                self.save()

    # -- inspecting --------------------------------------------------------------------------------

    def record(self, name: str) -> ProcessRecord | None:
        return self.state.processes.get(name)

    def is_alive(self, record: ProcessRecord) -> bool:
        """True when the recorded process still runs and is the one we started (not a reused pid)."""
        child = self._children.get(record.pid)
        if child is not None and child.poll() is not None:
            return False
        return _matches(record) is not None

    def alive(self, name: str) -> bool:
        record = self.record(name)
        return record is not None and self.is_alive(record)

    def pids(self) -> list[int]:
        """Every live process of this stack, children included (for RSS accounting and tests)."""
        found: set[int] = set()
        for proc in marked_processes(self.run_dir):
            found.add(proc.pid)
            with contextlib.suppress(psutil.Error):
                found.update(child.pid for child in proc.children(recursive=True))
        return sorted(found)

    def rss_bytes(self) -> int:
        """Resident memory of every live process of this stack, children included."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, name: str, *, grace: float = 10.0, sig: int | None = None) -> None:
        """Stop one process and its whole group: its stop signal, then SIGKILL after `grace` seconds."""
        record = self.record(name)
        if record is None:
            return
        _stop_record(record, self.run_dir, grace=grace, sig=sig, reap=self._reap)
        with self._mutex:
            self.state.processes.pop(name, None)
            self.save()

    def kill(self, name: str) -> None:
        """SIGKILL a process group at once (a crash, as a fault would cause it); keeps the record."""
        record = self.record(name)
        if record is None or not self.is_alive(record):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while self.is_alive(record) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)

    def sweep(self, *, grace: float = 5.0) -> list[str]:
        """Stop everything recorded in state.json, then anything else carrying this run dir's marker."""
        stopped: list[str] = []
        for name, record in list(self.state.processes.items()):
            if self.is_alive(record):
                stopped.append(name)
            _stop_record(record, self.run_dir, grace=grace, sig=None, reap=self._reap)
            del self.state.processes[name]
        self.state.complete = False
        self.save()
        for proc in marked_processes(self.run_dir):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                stopped.append(f"pid {proc.pid} ({proc.name()})")
                pgid = os.getpgid(proc.pid)
                if pgid == os.getpgrp():  # never signal our own group, whatever the marker says
                    proc.kill()
                else:
                    _kill_group(pgid, grace=grace, reap=self._reap)
        return stopped

    def _reap(self) -> None:
        with self._mutex:
            for pid, proc in list(self._children.items()):
                if proc.poll() is not None:
                    del self._children[pid]


def _matches(record: ProcessRecord) -> psutil.Process | None:
    try:
        proc = psutil.Process(record.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if record.started_at and abs(proc.create_time() - record.started_at) > 0.5:
            return None
        return proc
    except psutil.Error:
        return None


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
    return members


def _stop_record(
    record: ProcessRecord, run_dir: Path, *, grace: float, sig: int | None, reap: _Reaper
) -> None:
    leader = _matches(record)
    if leader is None:
        # The leader is gone (or its pid reused): only members that carry our marker are ours.
        for pid in _group_members(record.pgid):
            if _has_marker(pid, run_dir):
                _kill_group(record.pgid, grace=0.0, reap=reap)
                break
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pgid, record.stop_signal if sig is None else sig)
    _wait_group(record.pgid, grace, reap)
    if _group_members(record.pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pgid, signal.SIGKILL)
        _wait_group(record.pgid, 5.0, reap)


def _kill_group(pgid: int, *, grace: float, reap: _Reaper) -> None:
    if grace > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        _wait_group(pgid, grace, reap)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    _wait_group(pgid, 5.0, reap)


def _wait_group(pgid: int, timeout: float, reap: _Reaper) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not _group_members(pgid):
            return
        time.sleep(0.05)


def _has_marker(pid: int, run_dir: Path) -> bool:
    try:
        return psutil.Process(pid).environ().get(MARKER) == str(run_dir)
    except psutil.Error:
        return False


def marked_processes(run_dir: Path) -> list[psutil.Process]:
    """Live processes started for `run_dir` (found by the marker in their environment)."""
    target = str(run_dir.resolve())
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(MARKER) == target:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def tail(path: Path | str, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' if there is none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def follow(path: Path, out: IO[str], *, poll: float = 0.25) -> None:
    """Print what is appended to `path` until interrupted (`logs -f`)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(0, os.SEEK_END)
        while True:
            line = handle.readline()
            if line:
                out.write(line)
                out.flush()
            else:
                time.sleep(poll)
