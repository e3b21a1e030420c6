"""`injector: file`: a file that appears for the fault's duration, then goes.

A disk filling up (`size` bytes in a service's data dir), or a flag file a system watches (a
maintenance switch, a kill switch). The file starts with a marker line naming the fault, so removal
takes away only a file this injector wrote, and the fault ledger's replay (rollback, the deadline
watchdog, the next run's sweep) can remove it after a crash.

An example of chaosgate's injector plugin interface: register an Injector subclass under the entry
point group `chaosgate.injectors`; its `fault` model is validated like the built-in ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from chaosgate.errors import FaultError
from chaosgate.injection import HandleData, Injector
from chaosgate.scenario.models import FaultBase

MARKER = "chaosgate-fault {fault_id}\n"
CHUNK = 1 << 20


class FileFault(FaultBase):
    """Create `path` (relative to chaos.yaml's folder, or absolute) holding `size` bytes after its
    marker line, for the fault's duration. An existing file is never overwritten."""

    injector: Literal["file"]
    path: str = Field(min_length=1, max_length=1024)
    size: int = Field(0, ge=0, le=1 << 30)  # up to 1 GiB


class FileInjector(Injector[FileFault]):
    name = "file"
    fault = FileFault

    def apply(self, spec: FileFault, *, fault_id: str) -> HandleData:
        path = self._path(spec)
        marker = MARKER.format(fault_id=fault_id).encode()
        try:
            handle = path.open("xb")  # exclusive: a file that is there already is not ours to replace
        except FileExistsError:
            raise FaultError(f"{path} exists already; the file injector only creates files") from None
        except OSError as exc:
            raise FaultError(f"cannot create {path}: {exc}") from None
        with handle:
            handle.write(marker)
            left = spec.size
            while left:
                chunk = min(left, CHUNK)
                handle.write(bytes(chunk))
                left -= chunk
            handle.flush()
            os.fsync(handle.fileno())
        return {"path": str(path), "bytes": len(marker) + spec.size}

    def verify(self, spec: FileFault, data: HandleData) -> str:
        """Read the file back from disk: there, ours, and as large as written."""
        path = Path(data["path"])
        if not self._ours(path, data):
            raise FaultError(f"{path} is not there (or not this fault's) right after it was written")
        size = path.stat().st_size
        if size != data["bytes"]:
            raise FaultError(f"{path} holds {size} bytes, not the {data['bytes']} written")
        return f"{path} holds {size} bytes, marked {data['fault_id']}"

    def remove(self, spec: FileFault, data: HandleData) -> None:
        """Delete the file if it is this fault's; gone already is fine (idempotent)."""
        path = Path(data.get("path") or self._path(spec))
        if not path.exists():
            return
        if not self._ours(path, data):
            raise FaultError(f"{path} is no longer the file fault {data['fault_id']} wrote; left in place")
        path.unlink(missing_ok=True)

    def _path(self, spec: FileFault) -> Path:
        return (self.env.topology.source.parent / spec.path).resolve()

    @staticmethod
    def _ours(path: Path, data: HandleData) -> bool:
        marker = MARKER.format(fault_id=data["fault_id"]).encode()
        try:
            with path.open("rb") as handle:
                return handle.read(len(marker)) == marker
        except FileNotFoundError:
            return False
