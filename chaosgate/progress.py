"""Live progress on the terminal: phases, faults and a compact probe matrix, as an event observer."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from chaosgate.events import EventKind, RunEvent
from chaosgate.result import RunResult

SYMBOLS = {
    "served": "[green]●[/]",
    "degraded": "[yellow]◐[/]",
    "rejected": "[blue]○[/]",
    "error": "[red]✕[/]",
    "hang": "[magenta]…[/]",
}


class ConsoleProgress:
    """Prints one line per phase and fault event, and the probe matrix every `matrix_every_s` seconds."""

    def __init__(self, console: Console, *, matrix_every_s: float = 2.0) -> None:
        self.console = console
        self.matrix_every_s = matrix_every_s
        self._latest: dict[str, str] = {}
        self._last_matrix = 0.0
        self._phase = ""

    def on_event(self, event: RunEvent) -> None:
        d = event.data
        if event.kind is EventKind.RUN_STARTED:
            self.console.print(
                f"[bold]run {d['run_id']}[/]: {len(d['scenarios'])} scenario(s) → {d['out_dir']}"
            )
        elif event.kind is EventKind.SCENARIO_STARTED:
            self._latest.clear()
            self.console.rule(f"[bold]{event.scenario}[/]: {d['title']} (target {d['target']})")
        elif event.kind is EventKind.PHASE:
            self._phase = d["phase"]
            self.console.print(f"  [cyan]{d['t']:7.1f}s[/] phase [bold]{d['phase']}[/]")
        elif event.kind is EventKind.FAULT:
            extra = f": {d['detail']} ({d['seconds']}s)" if "detail" in d else ""
            self.console.print(f"           fault {d['fault_id']} [bold]{d['event']}[/]{extra}")
        elif event.kind is EventKind.SAMPLE:
            self._latest[d["target"]] = d["outcome"]
            now = time.monotonic()
            if now - self._last_matrix >= self.matrix_every_s:
                self._last_matrix = now
                matrix = "  ".join(f"{t} {SYMBOLS[o]}" for t, o in sorted(self._latest.items()))
                self.console.print(f"           [dim]{self._phase:>8}[/] {matrix}", highlight=False)
        elif event.kind is EventKind.SCENARIO_FINISHED:
            readiness = d.get("readiness")
            shown = f"readiness {readiness:.1f}" if readiness is not None else d["status"]
            self.console.print(f"  [bold]{event.scenario}[/]: {shown} {d.get('message') or ''}")
        elif event.kind is EventKind.MESSAGE:
            self.console.print(f"  [yellow]{d['text']}[/]")


def summary_table(result: RunResult) -> Table:
    """The reports' table: scenario, isolation, cascades, data loss, fail behaviour, readiness."""
    table = Table(title=f"readiness — run {result.run_id} (profile {result.profile})")
    for column in (
        "scenario",
        "isolation",
        "cascades",
        "data loss",
        "fail behaviour",
        "recovery",
        "readiness",
    ):
        table.add_column(column, justify="right" if column in ("readiness", "recovery") else "left")
    for s in result.scenarios:
        if s.score is None:
            table.add_row(s.name, "—", "—", "—", f"[red]{s.status}[/]: {s.message[:60]}", "—", "—")
            continue
        sc = s.score
        behaviour = ", ".join(
            f"{f} {b.value}" + ("" if sc.expected.get(f) in (None, b) else " ✗")
            for f, b in sc.behaviour.items()
        )
        recovery = "never" if s.recovery_s is None else f"{s.recovery_s:.1f}s"
        table.add_row(
            s.name,
            f"{sc.isolation_label.value} {sc.isolation:.0%}",
            sc.cascade_label.value,
            sc.data_label.value,
            behaviour or "—",
            recovery,
            f"{sc.readiness:.1f}%",
        )
    if result.overall is not None:
        table.caption = f"overall readiness {result.overall:.1f}%"
    return table
