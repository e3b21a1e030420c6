"""Live progress on the terminal, as observers: the stack starting and stopping, then phases and faults."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaosgate.events import EventKind, RunEvent
from chaosgate.report.claims_table import claims_view
from chaosgate.report.details import scenario_details
from chaosgate.report.view import Tone, load_level, summary_rows
from chaosgate.result import RunResult
from chaosgate.stack.events import StackEvent, StackPhase

SYMBOLS = {
    "served": "[green]●[/]",
    "degraded": "[yellow]◐[/]",
    "rejected": "[blue]○[/]",
    "error": "[red]✕[/]",
    "hang": "[magenta]…[/]",
}


MARKS = {
    StackPhase.SWEEPING: "[dim]…[/]",
    StackPhase.STARTING: "[yellow]→[/]",
    StackPhase.READY: "[green]✓[/]",
    StackPhase.STOPPING: "[yellow]↓[/]",
    StackPhase.STOPPED: "[dim]■[/]",
    StackPhase.RUNNING: "[green]●[/]",
}


class StackProgress:
    """Prints one line per launcher event under a spinner naming what is being waited for."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status = console.status("")

    def __call__(self, event: StackEvent) -> None:
        if event.phase is StackPhase.SWEEPING:
            self.status.update("looking for leftovers")
            return
        if event.phase in (StackPhase.STARTING, StackPhase.STOPPING):
            self.status.update(f"{event.phase.value} {event.component}")
        detail = f" [dim]{event.detail}[/]" if event.detail else ""
        self.console.print(f"{MARKS[event.phase]} {event.component} {event.phase.value}{detail}")


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
TONE_STYLES = {Tone.GOOD: "green", Tone.WARN: "yellow", Tone.BAD: "red", Tone.NA: "dim", Tone.VOID: "magenta"}


def _toned(text: str, tone: Tone) -> str:
    return f"[{TONE_STYLES[tone]}]{escape(text)}[/]"


def _labelled(text: str, tone: Tone) -> str:
    """`YES: auth.login, chat.history`: the label in its tone, what it names in plain text."""
    label, sep, what = text.partition(": ")
    return _toned(label, tone) + (f"{sep}{escape(what)}" if sep else "")


def scenario_notes(result: RunResult) -> list[str]:
    """Each scored scenario's findings (must survive, containment, cascade paths, amplification, data
    loss per phase, the control) as markup lines under the table."""
    lines = []
    for s in result.scenarios:
        details = scenario_details(s)
        if not details:
            continue
        lines.append(f"[bold]{escape(s.name)}[/]")
        for d in details:
            lines.append(f"  [cyan]{d.key}[/]: {escape(d.text)}")
            lines += [f"    {escape(item)}" for item in d.items]
    return lines


def summary_table(result: RunResult) -> Table:
    """The reports' table (scenario, must survive / broken, isolation, cascades, data loss, fail behaviour,
    recovery, readiness, load), the run's load and claims, then each scenario's findings beneath it."""
    table = Table(
        title=f"readiness — run {result.run_id} (profile {result.profile})",
        caption_justify="left",
        caption_style="none",
    )
    for column in (
        "scenario",
        "must survive / broken",
        "isolation",
        "cascades",
        "data loss",
        "fail behaviour",
        "recovery",
        "readiness",
        "load rps/in flight",
    ):
        left = column in ("scenario", "isolation", "cascades", "data loss", "fail behaviour")
        # A scenario's name is how a reader finds it: never cut, whatever else wraps.
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "scenario")
    for r in summary_rows(result):
        if not r.ok:
            table.add_row(r.name, "—", "—", "—", "—", f"[red]{escape(r.behaviour[:70])}[/]", "—", "—", r.load)
            continue
        table.add_row(
            r.name,
            r.survive,
            _toned(r.isolation, r.isolation_tone),
            _labelled(r.cascades, r.cascades_tone),
            _labelled(r.data_loss, r.data_tone),
            f"{_toned(r.behaviour_match, r.behaviour_tone)} · {escape(r.behaviour)}",
            escape(r.recovery),
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
    if result.gate is not None:
        caption += [f"inconclusive (machine saturated): {r}" for r in result.gate.inconclusive]
    notes = [escape(line) for line in caption]
    if details := scenario_notes(result):
        notes += ["", *details]
    if notes:
        table.caption = "\n".join(notes)
    return table
