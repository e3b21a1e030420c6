"""`chaosgate faults`: what the fault ledger holds, and forgetting it when a human says so.

Every `chaosgate run` sweeps the ledger first (removing what an earlier run left in force); a fault
the sweep cannot remove stops the run with exit 3, so it is never silently dropped. This command is
the way out once its state is checked by hand: it lists the ledger and, with `--clear`, closes the
faults still open in it (recorded as `cleared`, never as removed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from chaosgate.config import load_topology
from chaosgate.faults import LEDGER_FILE, ActiveFault, FaultLedger, LedgerEvent, describe_fault
from chaosgate.stack.cli import config_option, run_dir_option


@click.command("faults")
@click.option("--all", "show_all", is_flag=True, help="Also list the faults the ledger holds as ended.")
@click.option(
    "--clear",
    is_flag=True,
    help="Close every fault still open in the ledger without touching the system (check it first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as JSON.")
@config_option
@run_dir_option
def faults_command(show_all: bool, clear: bool, as_json: bool, config: Path, run_dir: Path | None) -> None:
    """List the fault ledger's open faults (what a run left in force), or forget them with --clear."""
    topology = load_topology(config)
    ledger = FaultLedger((Path(run_dir).resolve() if run_dir else topology.default_run_dir()) / LEDGER_FILE)
    open_ids = {f.fault_id for f in ledger.active()}
    shown = [f for f in ledger.replay() if show_all or f.fault_id in open_ids]
    if as_json:
        click.echo(json.dumps([_as_json(f, f.fault_id in open_ids) for f in shown], indent=2))
    else:
        _print_table(shown, open_ids, ledger.path)
    if clear:
        for fault in ledger.active():
            ledger.record(LedgerEvent.CLEARED, fault, "forgotten by `chaosgate faults --clear`")
        click.echo(f"cleared {len(open_ids)} open fault(s) from {ledger.path}", err=True)
        ledger.compact()


def _as_json(fault: ActiveFault, is_open: bool) -> dict[str, object]:
    return {
        "id": fault.fault_id,
        "injector": fault.injector,
        "spec": fault.spec.model_dump(mode="json"),
        "open": is_open,
        "deadline": fault.deadline,
        "owner_pid": fault.owner_pid,
        "events": [{"event": e.value, "at": at, "detail": d} for e, at, d in fault.history],
    }


def _print_table(faults: list[ActiveFault], open_ids: set[str], path: Path) -> None:
    console = Console()
    if not faults:
        console.print(f"no open fault in {path}" if path.exists() else f"no fault ledger at {path}")
        return
    table = Table(title=f"fault ledger {path}")
    for column in ("fault", "injector", "what", "state", "last event"):
        table.add_column(column)
    now = time.time()
    for fault in faults:
        event, at, detail = fault.history[-1]
        state = "open" if fault.fault_id in open_ids else "ended"
        if state == "open" and fault.deadline < now:
            state = "open, past its deadline"
        last = f"{event.value} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))}"
        table.add_row(
            fault.fault_id, fault.injector, describe_fault(fault.spec), state, f"{last} {detail}".strip()
        )
    console.print(table)
