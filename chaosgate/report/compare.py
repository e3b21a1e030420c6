"""Two runs side by side: per-scenario and per-dimension deltas, as a rich table and as an HTML page."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table

from chaosgate.report.html import environment
from chaosgate.report.view import NA, fmt_score, verdict
from chaosgate.result import RunResult, ScenarioResult

# The scored dimensions, as ScoreRecord.components names them, each on 0..1 (None: n/a, no delta).
DIMENSIONS = ("isolation", "cascade", "data", "fail_behaviour", "recovery")


@dataclass(frozen=True)
class Delta:
    a: float | None
    b: float | None

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class ScenarioDelta:
    name: str
    status_a: str
    status_b: str
    readiness: Delta
    dimensions: dict[str, Delta]
    switches: list[str] = field(default_factory=list)  # filled by `compare --profiles`


@dataclass(frozen=True)
class SwitchContribution:
    """Readiness of one scenario with every fix on, and with all but one: the difference is that fix's."""

    scenario: str
    switch: str
    with_switch: float | None
    without_switch: float | None

    @property
    def contribution(self) -> float | None:
        return Delta(self.without_switch, self.with_switch).change


@dataclass(frozen=True)
class Comparison:
    a: RunResult
    b: RunResult
    label_a: str
    label_b: str
    overall: Delta
    scenarios: list[ScenarioDelta]
    contributions: list[SwitchContribution] = field(default_factory=list)


def _readiness(s: ScenarioResult | None) -> float | None:
    return s.score.readiness if s is not None and s.score is not None else None


def _component(s: ScenarioResult | None, name: str) -> float | None:
    return s.score.components.get(name) if s is not None and s.score is not None else None


def compare_runs(a: RunResult, b: RunResult, *, label_a: str = "", label_b: str = "") -> Comparison:
    """Scenarios of both runs in A's order, then those only B ran."""
    by_a = {s.name: s for s in a.scenarios}
    by_b = {s.name: s for s in b.scenarios}
    names = [*by_a, *(n for n in by_b if n not in by_a)]
    rows = []
    for name in names:
        sa, sb = by_a.get(name), by_b.get(name)
        rows.append(
            ScenarioDelta(
                name=name,
                status_a=sa.status if sa else "not run",
                status_b=sb.status if sb else "not run",
                readiness=Delta(_readiness(sa), _readiness(sb)),
                dimensions={d: Delta(_component(sa, d), _component(sb, d)) for d in DIMENSIONS},
            )
        )
    return Comparison(
        a=a,
        b=b,
        label_a=label_a or f"{a.run_id} ({a.profile})",
        label_b=label_b or f"{b.run_id} ({b.profile})",
        overall=Delta(a.overall, b.overall),
        scenarios=rows,
    )


def signed(change: float | None, *, scale: float = 1.0, missing: str = "—") -> str:
    """A delta with its sign; `missing` when either side has no value (n/a for a dimension)."""
    if change is None:
        return missing
    value = change * scale
    return "±0" if abs(value) < 0.05 else f"{value:+.1f}"


def _coloured(change: float | None, *, scale: float = 1.0, missing: str = "—") -> str:
    text = signed(change, scale=scale, missing=missing)
    if change is None or text == "±0":
        return text
    return f"[green]{text}[/]" if change > 0 else f"[red]{text}[/]"


def comparison_table(cmp: Comparison) -> Table:
    """Readiness of A and B per scenario, its delta, and the delta of each dimension (in points of 100)."""
    table = Table(title=f"{cmp.label_a} → {cmp.label_b}")
    table.add_column("scenario")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_column("Δ readiness", justify="right")
    for d in DIMENSIONS:
        table.add_column(f"Δ {d}", justify="right")
    if any(s.switches for s in cmp.scenarios):
        table.add_column("switches exercised")
    for s in cmp.scenarios:
        cells = [
            s.name,
            fmt_score(s.readiness.a) if s.readiness.a is not None else s.status_a,
            fmt_score(s.readiness.b) if s.readiness.b is not None else s.status_b,
            _coloured(s.readiness.change),
            *(_coloured(s.dimensions[d].change, scale=100, missing=NA) for d in DIMENSIONS),
        ]
        if any(x.switches for x in cmp.scenarios):
            cells.append(", ".join(s.switches))
        table.add_row(*cells)
    table.caption = (
        f"overall {fmt_score(cmp.overall.a)} → {fmt_score(cmp.overall.b)} ({signed(cmp.overall.change)}); "
        f"gate {verdict(cmp.a)} → {verdict(cmp.b)}"
    )
    return table


def contributions_table(cmp: Comparison) -> Table:
    table = Table(title="what each fix buys (the fixed profile vs the same with that one switch off)")
    for column in ("scenario", "switch", "with", "without", "contribution"):
        table.add_column(column, justify="left" if column in ("scenario", "switch") else "right")
    for c in cmp.contributions:
        table.add_row(
            c.scenario,
            c.switch,
            fmt_score(c.with_switch),
            fmt_score(c.without_switch),
            _coloured(c.contribution),
        )
    return table


def render_compare(cmp: Comparison) -> str:
    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            cmp=cmp,
            dimensions=DIMENSIONS,
            signed=signed,
            fmt=fmt_score,
            verdict_a=verdict(cmp.a),
            verdict_b=verdict(cmp.b),
            show_switches=any(s.switches for s in cmp.scenarios),
        )
    )
