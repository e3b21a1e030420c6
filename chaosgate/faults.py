"""The fault ledger (on disk, written before every fault) and the controller that applies and removes faults.

Every fault goes through the ledger: `applying` is on disk before the injector is called, so a
runner that dies at any moment leaves enough behind for the deadline watchdog or the next run's
sweep to remove what it did. Replaying the ledger gives the faults still active.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
from pydantic import ConfigDict, TypeAdapter

from chaosgate.errors import FaultError, TargetGone
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.registry import InjectorFactory
from chaosgate.scenario.models import BUILTIN_INJECTORS, Fault, FaultBase

_FAULT = TypeAdapter(Fault)
LEDGER_FILE = "fault-ledger.jsonl"  # in the stack's run dir


class UnavailableFault(FaultBase):
    """A fault in the ledger whose injector (a plugin) is not installed here: kept as written, so it
    can be listed and cleared, and removing it names the missing injector instead of hiding it."""

    model_config = ConfigDict(extra="allow", frozen=True)


def describe_fault(spec: FaultBase) -> str:
    """A fault in a few words, for plans and listings: its target and what it does."""
    data = spec.model_dump(mode="json", exclude={"start", "duration", "injector"}, exclude_defaults=True)
    return ", ".join(f"{key}={value}" for key, value in data.items() if value not in (None, False, {}, []))


class LedgerEvent(StrEnum):
    APPLYING = "applying"  # written before the injector is called
    APPLIED = "applied"
    VERIFIED = "verified"
    REMOVED = "removed"
    REMOVE_FAILED = "remove_failed"
    GONE = "gone"  # its target no longer exists: nothing left to remove (reported, then closed)
    CLEARED = "cleared"  # dropped from the ledger by hand (`chaosgate faults --clear`), not removed


# A removal's detail begins with this when the injector says the fault fell short of its spec.
SHORT = "fell short: "
ENDED = frozenset({LedgerEvent.REMOVED, LedgerEvent.GONE, LedgerEvent.CLEARED})


@dataclass
class ActiveFault:
    """A fault that may be in effect: what it is, when it must be gone, and what removal needs."""

    fault_id: str
    spec: FaultBase
    deadline: float  # wall-clock epoch seconds: survives the runner's death
    owner_pid: int
    data: HandleData = field(default_factory=dict)
    history: list[tuple[LedgerEvent, float, str]] = field(default_factory=list)

    @property
    def injector(self) -> str:
        return self.spec.injector


class FaultLedger:
    """An append-only JSON-lines file; each line is fsynced so it survives a SIGKILL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._plugins: Mapping[str, type[FaultBase]] | None = None  # read once, when a line needs them

    def record(self, event: LedgerEvent, fault: ActiveFault, detail: str = "") -> None:
        entry: dict[str, Any] = {
            "event": event.value,
            "id": fault.fault_id,
            "at": time.time(),
            "detail": detail,
        }
        if event is LedgerEvent.APPLYING:
            entry |= {
                "spec": fault.spec.model_dump(mode="json"),
                "deadline": fault.deadline,
                "owner_pid": fault.owner_pid,
            }
        if event is LedgerEvent.APPLIED:
            entry["data"] = fault.data
        fault.history.append((event, entry["at"], detail))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def replay(self) -> list[ActiveFault]:
        """Every fault in the ledger, in the order they were applied (removed ones included)."""
        faults: dict[str, ActiveFault] = {}
        for entry in self._entries():
            event, fid = LedgerEvent(entry["event"]), str(entry["id"])
            if event is LedgerEvent.APPLYING:
                faults[fid] = ActiveFault(
                    fault_id=fid,
                    spec=self._spec(entry["spec"]),
                    deadline=float(entry["deadline"]),
                    owner_pid=int(entry.get("owner_pid", 0)),
                )
            fault = faults.get(fid)
            if fault is None:
                continue
            if event is LedgerEvent.APPLIED:
                fault.data = dict(entry.get("data") or {})
            fault.history.append((event, float(entry["at"]), str(entry.get("detail", ""))))
        return list(faults.values())

    def _spec(self, data: dict[str, Any]) -> FaultBase:
        """A ledger line's fault: a built-in one, else a plugin's (entry points read only then)."""
        name = data.get("injector")
        if name in BUILTIN_INJECTORS:
            return _FAULT.validate_python(data)
        if self._plugins is None:
            from chaosgate.registry import plugin_faults

            self._plugins = plugin_faults()
        model = self._plugins.get(str(name))
        if model is None:
            return UnavailableFault.model_validate(data)
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            raise FaultError(
                f"{self.path}: the {name} plugin no longer accepts a fault it applied ({exc.error_count()} "
                "error(s)); remove it by hand, then `chaosgate faults --clear`"
            ) from None

    def active(self) -> list[ActiveFault]:
        """Faults written as applying and not yet removed (nor gone with their target, nor cleared)."""
        return [f for f in self.replay() if not any(e in ENDED for e, _, _ in f.history)]

    def compact(self) -> None:
        """Forget the ledger once nothing in it is active (keeps it from growing run after run)."""
        if self.path.exists() and not self.active():
            self.path.unlink()

    def _entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash mid-write: the entries before it still count


class FaultController:
    """Applies, verifies and removes faults through the injectors, writing the ledger at every step."""

    def __init__(
        self, ledger: FaultLedger, factories: Mapping[str, InjectorFactory], env: FaultEnvironment
    ) -> None:
        self.ledger = ledger
        self.factories = factories
        self.env = env
        self._injectors: dict[str, Injector[Any]] = {}

    def close(self) -> None:
        for injector in self._injectors.values():
            injector.close()
        self._injectors.clear()

    def prepare(self, specs: Sequence[FaultBase]) -> None:
        """Each fault's preparation (Injector.prepare), before the steady window; nothing is broken."""
        for spec in specs:
            try:
                self._injector(spec.injector).prepare(spec)
            except FaultError:
                raise
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
                raise FaultError(f"{spec.injector}: could not prepare its fault: {why}") from exc

    def inject(self, spec: FaultBase, *, fault_id: str, deadline: float) -> ActiveFault:
        """Ledger first, then apply, then verify; a fault that fails verification is removed again."""
        fault = ActiveFault(fault_id=fault_id, spec=spec, deadline=deadline, owner_pid=os.getpid())
        injector = self._injector(spec.injector)
        self.ledger.record(LedgerEvent.APPLYING, fault)
        try:
            fault.data = {"fault_id": fault_id, **injector.apply(spec, fault_id=fault_id)}
            self.ledger.record(LedgerEvent.APPLIED, fault)
            evidence = injector.verify(spec, fault.data)
        except Exception as exc:
            # Whatever went wrong, the fault may be half-applied: take it back before reporting.
            with contextlib.suppress(FaultError):
                self.remove(fault)
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"{spec.injector} fault {fault_id} failed: {type(exc).__name__}: {exc}") from exc
        self.ledger.record(LedgerEvent.VERIFIED, fault, evidence)
        return fault

    def remove(self, fault: ActiveFault) -> None:
        """Undo one fault; the ledger says whether it worked."""
        injector = self._injector(fault.injector)
        data = {"fault_id": fault.fault_id, **fault.data}
        short = ""
        with contextlib.suppress(Exception):  # a question about strength must never block a removal
            short = injector.shortfall(fault.spec, data)
        try:
            injector.remove(fault.spec, data)
        except TargetGone as exc:
            # Not an error to retry forever: the fault went with its target. Closed in the ledger,
            # reported once by whoever removed it (the fault's events, the sweep's message).
            self.ledger.record(LedgerEvent.GONE, fault, str(exc))
            return
        except Exception as exc:
            self.ledger.record(LedgerEvent.REMOVE_FAILED, fault, str(exc))
            raise FaultError(f"could not remove fault {fault.fault_id} ({fault.injector}): {exc}") from exc
        self.ledger.record(LedgerEvent.REMOVED, fault, f"{SHORT}{short}" if short else "")

    def rollback(self, *, only_expired: bool = False, now: float | None = None) -> list[str]:
        """Remove every active fault in the ledger, newest first; errors are collected, not fatal."""
        now = time.time() if now is None else now
        problems: list[str] = []
        for fault in reversed(self.ledger.active()):
            if only_expired and fault.deadline > now:
                continue
            try:
                self.remove(fault)
            except FaultError as exc:
                problems.append(str(exc))
        return problems

    def _injector(self, name: str) -> Injector[Any]:
        # Built on first use: an injector that needs the local runtime must not fail a compose run
        # that never uses it.
        if name not in self._injectors:
            factory = self.factories.get(name)
            if factory is None:
                raise FaultError(f"no injector {name!r} is available here")
            self._injectors[name] = factory(self.env)
        return self._injectors[name]
