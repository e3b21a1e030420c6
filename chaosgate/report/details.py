"""A scenario's scoring rules v3 findings in words every report shares: how many features must survive,
which features and components cascaded and by which path, amplification, data loss per writer and phase,
the control (a saturated machine makes a verdict inconclusive), and the steady samples latency verdicts
stand on. HTML, JUnit, Markdown and the terminal all say these the same way."""

from __future__ import annotations

from dataclasses import dataclass

from chaosgate.result import (
    WRITER_PHASES,
    CascadeKind,
    CascadePath,
    ControlRecord,
    LinkRate,
    ScenarioResult,
    ScoreRecord,
    WriterPhaseRecord,
    WriterRecord,
)
from chaosgate.scoring import Label

NA = "n/a"
# A verdict judged on a saturated machine (the control slowed as much as the features): neither scored as
# the target's failure nor silently passed.
INCONCLUSIVE = "inconclusive (machine saturated)"

KIND_WORDS = {
    CascadeKind.FEATURE: "collateral feature",
    CascadeKind.COMPONENT: "collateral component",
    CascadeKind.PERSISTENCE: "persistence",
}


def fmt_label(label: Label) -> str:
    return INCONCLUSIVE if label is Label.INCONCLUSIVE else label.value


def fmt_isolation(sc: ScoreRecord) -> str:
    if sc.isolation_label is Label.INCONCLUSIVE:
        return INCONCLUSIVE
    if sc.isolation is None or sc.isolation_label is Label.NA:
        return NA
    return f"{sc.isolation_label.value} {sc.isolation:.0%}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


# ---- must survive ------------------------------------------------------------------------------


def survive_cell(sc: ScoreRecord) -> str:
    """`6 / 3`: features that must survive the fault, and those that hard-depend on its target."""
    return f"{len(sc.must_survive)} / {len(sc.broken)}"


def features_line(s: ScenarioResult) -> str:
    """How much the scenario can measure: a fault that leaves one feature to survive measures little."""
    assert s.score is not None
    sc = s.score
    broken = f"{len(sc.broken)} broken (hard-depend on {s.target})"
    if sc.broken:
        broken += ": " + ", ".join(sc.broken)
    return f"{len(sc.must_survive)} must survive, {broken}"


# ---- latency verdicts and their footing -------------------------------------------------------


def footing(sc: ScoreRecord) -> str:
    """The steady samples latency verdicts stand on: a p95 of a handful of samples is noise."""
    if not sc.steady_samples:
        return ""
    fewest, least = min(sc.steady_samples.items(), key=lambda kv: (kv[1], kv[0]))
    most = max(sc.steady_samples.values())
    span = f"{least}" if least == most else f"{least}–{most}"
    return f"{span} steady samples per feature (fewest: {fewest} {least})"


def containment_line(sc: ScoreRecord) -> str:
    parts = [fmt_isolation(sc)]
    if sc.unhealthy_unaffected:
        parts.append("unhealthy " + ", ".join(sc.unhealthy_unaffected))
    if sc.inconclusive and sc.isolation_label is not Label.INCONCLUSIVE:
        parts.append(f"{INCONCLUSIVE} for " + ", ".join(sc.inconclusive))
    if basis := footing(sc):
        parts.append("footing: " + basis)
    return "; ".join(parts)


# ---- cascade ------------------------------------------------------------------------------------


def cascade_names(sc: ScoreRecord) -> list[str]:
    """What the harm reached, in the order the paths name it (a result from before v3: `cascaded`)."""
    return list(dict.fromkeys(p.name for p in sc.cascade_paths)) or list(sc.cascaded)


def cascade_cell(sc: ScoreRecord) -> str:
    """`YES: auth.login, chat.history`: the label and what cascaded."""
    names = cascade_names(sc)
    return f"{fmt_label(sc.cascade_label)}: {', '.join(names)}" if names else fmt_label(sc.cascade_label)


def path_line(p: CascadePath) -> str:
    return f"{p.name} {p.severity} ({KIND_WORDS[p.kind]}): {p.path}"


def cascade_items(s: ScenarioResult) -> list[str]:
    """Each feature or component the harm reached and its path, then what recovery could not undo."""
    assert s.score is not None
    items = [path_line(p) for p in s.score.cascade_paths]
    named = {p.name for p in s.score.cascade_paths}
    if missing := [f for f in s.score.not_recovered if f not in named]:
        items.append("not back at baseline when recovery timed out: " + ", ".join(missing))
    if s.restarted:
        items.append("restarted by the harness because recovery failed: " + ", ".join(s.restarted))
    return items


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"×{value:.1f}"


def amplification_line(r: LinkRate) -> str:
    """`cassandra (faulted) connections/s: 3.1 steady → 24.8 during the fault (×8.0)`."""
    ratio = "" if r.ratio is None else f" ({fmt_ratio(r.ratio)})"
    fault = f"{fmt_rate(r.fault)} during the fault{ratio}"
    return f"{r.link} ({r.role}) {r.unit}: {fmt_rate(r.steady)} steady → {fault}"


# ---- data loss ----------------------------------------------------------------------------------


def writer_loss(name: str, w: WriterRecord) -> str:
    """`chat.messages lost 12 of 40 acknowledged (fault: 12/18)`: each phase's lost / acknowledged."""
    text = f"{name} lost {w.lost} of {w.acknowledged} acknowledged"
    lossy = [(phase, c) for phase in WRITER_PHASES if (c := w.phases.get(phase)) is not None and c.lost]
    if lossy:
        text += " (" + ", ".join(f"{phase}: {c.lost}/{c.acknowledged}" for phase, c in lossy) + ")"
    return text


def _seeing(s: ScenarioResult) -> dict[str, WriterRecord]:
    return {n: w for n, w in s.writers.items() if not w.cannot_tell}


def blind_writers(s: ScenarioResult) -> list[str]:
    """Writers whose read-back could not see: "cannot tell", never a loss."""
    return [n for n, w in s.writers.items() if w.cannot_tell]


def data_cell(s: ScenarioResult) -> str:
    """The table's data-loss cell: `YES: chat.messages 12/40 lost`, `n/a: cannot tell chat.messages`."""
    assert s.score is not None
    label = fmt_label(s.score.data_label)
    parts = [f"{n} {w.lost}/{w.acknowledged} lost" for n, w in _seeing(s).items() if w.lost]
    if blind := blind_writers(s):
        parts.append("cannot tell " + ", ".join(blind))
    return f"{label}: {', '.join(parts)}" if parts else label


def data_line(s: ScenarioResult) -> str:
    """`YES: chat.messages lost 12 of 40 acknowledged (fault: 12/18)`; else the scorer's reason."""
    assert s.score is not None
    label = fmt_label(s.score.data_label)
    losses = [writer_loss(n, w) for n, w in _seeing(s).items() if w.lost]
    if losses:
        return f"{label}: {'; '.join(losses)}"
    return f"{label}: {s.score.data_reason}" if s.score.data_reason else label


def phases_line(name: str, w: WriterRecord) -> str:
    """`chat.messages — attempted/acknowledged/lost/recovered: before 15/15/0/0 · fault 20/18/12/1 · …`."""
    head = f"{name} (ephemeral)" if w.ephemeral else name
    if w.cannot_tell:  # lost and recovered mean nothing when the read-back could not see
        cells = [f"{phase} {c.attempted}/{c.acknowledged}" for phase, c in _phases(w)]
        counts = f"; attempted/acknowledged: {' · '.join(cells)}" if cells else ""
        return f"{head} — cannot tell, nothing counted lost ({w.cannot_tell}){counts}"
    cells = [f"{phase} {c.attempted}/{c.acknowledged}/{c.lost}/{c.recovered}" for phase, c in _phases(w)]
    if not cells:  # a result from before phases were counted
        cells = [f"all {w.attempted}/{w.acknowledged}/{w.lost}/{w.recovered}"]
    return f"{head} — attempted/acknowledged/lost/recovered: " + " · ".join(cells)


def _phases(w: WriterRecord) -> list[tuple[str, WriterPhaseRecord]]:
    return [(phase, c) for phase in WRITER_PHASES if (c := w.phases.get(phase)) is not None]


# ---- the control --------------------------------------------------------------------------------


def control_figures(c: ControlRecord) -> str:
    """`control p95 4.1 ms steady vs 61.0 ms during the fault (×14.9), 40/60 samples; harness CPU …`."""
    ratio = "" if c.ratio is None else f" (×{c.ratio:.1f})"
    return (
        f"control p95 {_ms(c.steady_p95_ms)} steady vs {_ms(c.fault_p95_ms)} during the fault{ratio}, "
        f"{c.steady_count}/{c.fault_count} samples; harness CPU {_pct(c.harness_cpu_steady)} steady vs "
        f"{_pct(c.harness_cpu_fault)} during the fault"
        + (
            f"; neighbours {_pct(c.neighbour_cpu_steady)} vs {_pct(c.neighbour_cpu_fault)}"
            if c.neighbour_cpu_steady is not None or c.neighbour_cpu_fault is not None
            else ""
        )
    )


def control_line(c: ControlRecord) -> str:
    return f"{'machine saturated' if c.saturated else 'machine kept up'}: {control_figures(c)}"


def void_dimensions(sc: ScoreRecord) -> list[str]:
    labels = {"isolation": sc.isolation_label, "cascade": sc.cascade_label, "data loss": sc.data_label}
    return [name for name, label in labels.items() if label is Label.INCONCLUSIVE]


def inconclusive_line(s: ScenarioResult) -> str:
    """Empty unless a verdict of this scenario was void: then which, on what, and the control's figures."""
    assert s.score is not None
    dims, void = void_dimensions(s.score), s.score.inconclusive
    if not dims and not void:
        return ""
    line = f"{', '.join(dims) if dims else 'latency verdicts'} {INCONCLUSIVE}"
    if void:
        line += " for " + ", ".join(void)
    c = s.control
    if c is not None:
        line += f" — {control_figures(c)}" + (f" ({c.reason})" if c.reason else "")
    return line


# ---- every detail, for the text reports ---------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """One line of a scenario's findings (`key: text`), with sub-lines."""

    key: str
    text: str
    items: tuple[str, ...] = ()


def scenario_details(s: ScenarioResult) -> list[Detail]:
    """A scored scenario's v3 findings, in the order a reader asks for them; [] without a score."""
    if s.score is None:
        return []
    sc = s.score
    details = [Detail("features", features_line(s)), Detail("containment", containment_line(sc))]
    if void := inconclusive_line(s):
        details.append(Detail("inconclusive", void))
    details.append(Detail("cascade", fmt_label(sc.cascade_label), tuple(cascade_items(s))))
    if sc.amplification:
        lines = tuple(amplification_line(r) for r in sc.amplification)
        details.append(Detail("amplification", "shown, not scored", lines))
    phases = tuple(phases_line(n, w) for n, w in s.writers.items())
    details.append(Detail("data loss", data_line(s), phases))
    if s.control is not None and not void:  # an inconclusive line already gives the control's figures
        details.append(Detail("control", control_line(s.control)))
    return details


def explain_reason(s: ScenarioResult | None, reason: str) -> str:
    """A gate reason with the counts behind it: `data_loss YES (floor NO): chat.messages lost 12 of 40
    acknowledged (fault: 12/18)`, `cascade YES (floor NO): auth.login, chat.history`."""
    if s is None or s.score is None:
        return reason
    if reason.startswith("data_loss ") and ":" not in reason:
        losses = [writer_loss(n, w) for n, w in _seeing(s).items() if w.lost]
        return f"{reason}: {'; '.join(losses)}" if losses else reason
    if reason.startswith("cascade ") and ":" not in reason and (names := cascade_names(s.score)):
        return f"{reason}: {', '.join(names)}"
    return reason
