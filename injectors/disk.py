"""A full disk on the compose runtime: one file fills a store's data volume (written from this host
through the container's own view of its files), and is deleted on removal."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, ClassVar

from chaosgate import compose
from chaosgate.errors import FaultError
from chaosgate.injection import HandleData, Runtime
from chaosgate.scenario.models import DiskFault

from .containers import ContainerInjector

FILL_PREFIX = ".chaosgate-fill-"
CHUNK = 1 << 20
# The generated compose file gives every store a bounded in-memory volume; past this much free space
# the volume is the host's disk, which a fault must never fill.
MAX_FILL = 8 << 30
PROBE_BYTES = 64 << 10


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(path: Path, size: int) -> int:
    """Write up to `size` bytes to a new file (allocated at once where the filesystem can), stopping
    early at ENOSPC; returns how many it holds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        try:
            os.posix_fallocate(fd, 0, size)
            written = size
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        zeros = bytes(CHUNK)
        os.lseek(fd, written, os.SEEK_SET)
        while written < size:  # bounded: at most `size` bytes, in chunks
            try:
                written += os.write(fd, zeros[: min(CHUNK, size - written)])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return written


class DiskInjector(ContainerInjector[DiskFault]):
    """Fills the volume the generated compose file mounts at the store's data dir (`<store>-data`)
    until `leave` bytes are free. Needs the engine on this host (the volume is written through
    /proc/<pid>/root), and refuses a volume with more than 8 GiB free: that is a host's disk."""

    name = "disk"
    fault = DiskFault
    runtimes: ClassVar[frozenset[Runtime]] = frozenset({"compose"})

    def _volume(self, container: Any, store: str) -> dict[str, Any]:
        mounts = [m for m in container.attrs.get("Mounts") or [] if m.get("Type") == "volume"]
        wanted = compose.volume_name(store)
        for mount in mounts:
            if str(mount.get("Name", "")).endswith(wanted):
                return dict(mount)
        if len(mounts) == 1:
            return dict(mounts[0])
        raise FaultError(f"container {container.name} has no volume {wanted!r} to fill (its volumes: "
                         f"{', '.join(str(m.get('Name')) for m in mounts) or 'none'})")  # fmt: skip

    def _path(self, spec: DiskFault, data: HandleData | None = None) -> Path | None:
        """The volume's folder as this host sees it: through the running container, else the volume's
        own mount point (None when neither exists: a volume in memory is gone with its container)."""
        container = self.engine.container(spec.store)
        container.reload()
        mount = self._volume(container, spec.store)
        pid = int(container.attrs["State"].get("Pid") or 0)
        if container.status == "running" and pid > 0:
            self.engine.pid(container)  # a local engine, or FaultError
            return Path(f"/proc/{pid}/root{mount['Destination']}")
        mountpoint = Path(str(mount.get("Source") or ""))
        return mountpoint if mountpoint.is_dir() else None

    def apply(self, spec: DiskFault, *, fault_id: str) -> HandleData:
        if spec.store not in self.env.topology.stores:
            raise FaultError(f"{spec.store!r} is no store; stores: {', '.join(self.env.topology.stores)}")
        folder = self._path(spec)
        if folder is None:
            raise FaultError(f"store {spec.store} is not running: its volume cannot be filled")
        free = free_bytes(folder)
        size = free - int(spec.leave)
        if size > MAX_FILL:
            raise FaultError(
                f"the volume of {spec.store} has {free >> 20} MiB free: it is not bounded (a host disk?), "
                f"and a disk fault writes at most {MAX_FILL >> 30} GiB"
            )
        name = f"{FILL_PREFIX}{fault_id}"
        written = fill(folder / name, max(0, size))
        return {"file": name, "bytes": written}

    def verify(self, spec: DiskFault, data: HandleData) -> str:
        folder = self._path(spec)
        if folder is None or not (folder / str(data["file"])).exists():
            raise FaultError(f"the fill file of {spec.store} is not on its volume")
        free = free_bytes(folder)
        evidence = f"{spec.store}'s volume: {int(data['bytes']) >> 20} MiB written, {free >> 10} KiB free"
        if free > int(spec.leave) + PROBE_BYTES:
            raise FaultError(f"{evidence}, more than the {int(spec.leave)} bytes asked for")
        if int(spec.leave) >= PROBE_BYTES:
            return evidence
        probe = folder / f"{FILL_PREFIX}probe-{data['file']}"
        try:
            probe.write_bytes(bytes(PROBE_BYTES))
        except OSError as exc:
            return f"{evidence}; a {PROBE_BYTES >> 10} KiB write there fails: {exc.strerror}"
        finally:
            probe.unlink(missing_ok=True)
        raise FaultError(f"{evidence}, yet a {PROBE_BYTES >> 10} KiB write there succeeds")

    def remove(self, spec: DiskFault, data: HandleData) -> None:
        folder = self._path(spec)
        if folder is not None:
            (folder / str(data.get("file", f"{FILL_PREFIX}none"))).unlink(missing_ok=True)
