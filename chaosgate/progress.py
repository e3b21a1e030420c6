"""Live progress on the terminal: phases, faults and a compact probe matrix, as an event observer."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaosgate.events import EventKind, RunEvent
from chaosgate.report.view import Tone, claims_view, load_level, summary_rows
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


# How a tone (report.view.Tone) reads on the terminal: n/a is dim, never green.
TONE_STYLES = {Tone.GOOD: "green", Tone.WARN: "yellow", Tone.BAD: "red", Tone.NA: "dim"}


def _toned(text: str, tone: Tone) -> str:
    return f"[{TONE_STYLES[tone]}]{escape(text)}[/]"


def summary_table(result: RunResult) -> Table:
    """The reports' table: scenario, isolation, cascades, data loss, fail behaviour, readiness, load."""
    table = Table(title=f"readiness — run {result.run_id} (profile {result.profile})")
    for column in (
        "scenario",
        "isolation",
        "cascades",
        "data loss",
        "fail behaviour",
        "recovery",
        "readiness",
        "load rps/in flight",
    ):
        left = column in ("scenario", "isolation", "cascades", "data loss", "fail behaviour")
        table.add_column(column, justify="left" if left else "right")
    for r in summary_rows(result):
        if not r.ok:
            table.add_row(r.name, "—", "—", "—", f"[red]{escape(r.behaviour[:70])}[/]", "—", "—", r.load)
            continue
        table.add_row(
            r.name,
            _toned(r.isolation, r.isolation_tone),
            _toned(r.cascades, r.cascades_tone),
            _toned(r.data_loss, r.data_tone),
            f"{_toned(r.behaviour_match, r.behaviour_tone)} · {escape(r.behaviour)}",
            r.recovery,
            r.readiness,
            r.load,
        )
    caption = []
    if result.overall is not None:
        caption.append(f"overall readiness {result.overall:.1f}%")
    caption += load_level(result)
    if (claims := claims_view(result)) is not None:
        caption.append(
            f"claims ({claims.source}): {claims.agreed} of {claims.compared} cells agree; "
            f"overall {claims.overall.text}"
        )
    if caption:
        table.caption = escape("\n".join(caption))
    return table
