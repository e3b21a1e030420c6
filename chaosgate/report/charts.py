"""Inline SVG charts of one scenario (latency timeline, outcome heatmap): the page needs no script."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from chaosgate.result import SampleRecord, ScenarioResult
from chaosgate.scoring import ProbeOutcome

OUTCOME_COLOURS: dict[ProbeOutcome, str] = {
    ProbeOutcome.SERVED: "#2e9d5b",
    ProbeOutcome.DEGRADED: "#e0a800",
    ProbeOutcome.REJECTED: "#3b7dd8",
    ProbeOutcome.ERROR: "#d64545",
    ProbeOutcome.HANG: "#8e44ad",
}
NO_DATA = "#e6e6e6"
# Worst last: a bucket's marker shows the worst thing that happened in it.
_SEVERITY = (
    ProbeOutcome.SERVED,
    ProbeOutcome.DEGRADED,
    ProbeOutcome.REJECTED,
    ProbeOutcome.ERROR,
    ProbeOutcome.HANG,
)
_LINE_COLOURS = (
    "#1b6ca8",
    "#d9822b",
    "#5c946e",
    "#a2395b",
    "#6b5b95",
    "#3d8c95",
    "#b5651d",
    "#7a7a7a",
    "#c44e52",
)


@dataclass(frozen=True)
class Bucket:
    """The samples of one target within one slice of time, reduced to what a chart shows."""

    index: int
    max_latency_ms: float
    worst: ProbeOutcome
    dominant: ProbeOutcome
    count: int


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def span_of(s: ScenarioResult) -> float:
    last = max((x.t for x in s.samples), default=0.0)
    return max(s.duration_s, last, 1.0)


def buckets(samples: Sequence[SampleRecord], span: float, count: int) -> dict[str, list[Bucket]]:
    """Downsample: per target, `count` equal time slices; keeps files small whatever the probe rate."""
    grouped: dict[tuple[str, int], list[SampleRecord]] = defaultdict(list)
    for x in samples:
        i = min(count - 1, max(0, int(x.t / span * count)))
        grouped[(x.target, i)].append(x)
    out: dict[str, list[Bucket]] = defaultdict(list)
    for (target, i), group in sorted(grouped.items()):
        tally = Counter(x.outcome for x in group)
        top = max(tally.values())
        dominant = max((o for o, n in tally.items() if n == top), key=_SEVERITY.index)
        out[target].append(
            Bucket(
                index=i,
                max_latency_ms=max(x.latency_ms for x in group),
                worst=max(tally, key=_SEVERITY.index),
                dominant=dominant,
                count=len(group),
            )
        )
    return dict(out)


def ordered_targets(samples: Sequence[SampleRecord]) -> list[str]:
    """Features first, then the components' health, then the control (a probe outside the target, whose
    slowing says the machine, not the target, was saturated), each sorted."""
    groups = ("health:", "control:")
    return sorted(
        {x.target for x in samples},
        key=lambda t: (next((i + 1 for i, g in enumerate(groups) if t.startswith(g)), 0), t),
    )


def _window_rects(
    s: ScenarioResult, x0: float, width: float, top: float, height: float, span: float
) -> list[str]:
    parts = []
    for window, fill, label in (
        (s.fault_window, "#f6c6c6", "fault window (injection to end of rollback)"),
        (s.active_window, "#ee9a9a", "fault active (verified to first removal)"),
    ):
        if window is None:
            continue
        a, b = (x0 + width * min(max(v / span, 0.0), 1.0) for v in window)
        parts.append(
            f'<rect x="{_f(a)}" y="{_f(top)}" width="{_f(max(b - a, 1))}" height="{_f(height)}" '
            f'fill="{fill}" opacity="0.55"><title>{label}: {window[0]:.1f}s – {window[1]:.1f}s</title></rect>'
        )
    return parts


def _time_axis(x0: float, width: float, y: float, span: float) -> list[str]:
    step = next(st for st in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800) if span / st <= 10)
    parts = [f'<line x1="{x0}" y1="{_f(y)}" x2="{_f(x0 + width)}" y2="{_f(y)}" stroke="#999"/>']
    t = 0.0
    while t <= span + 1e-9:
        x = x0 + width * t / span
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x)}" y2="{_f(y + 4)}" stroke="#999"/>'
            f'<text x="{_f(x)}" y="{_f(y + 15)}" text-anchor="middle">{t:g}s</text>'
        )
        t += step
    return parts


def _line_style(n: int, target: str) -> tuple[str, str]:
    """A feature's line colour; the control's is dashed black, the yardstick the features are read against."""
    if target.startswith("control:"):
        return "#1d2330", ' stroke-dasharray="4 3"'
    return _LINE_COLOURS[n % len(_LINE_COLOURS)], ""


def timeline_svg(s: ScenarioResult, *, columns: int = 120) -> Markup:
    """Probe latency (log scale) per feature over time; non-served outcomes marked; fault window shaded."""
    features = [t for t in ordered_targets(s.samples) if not t.startswith("health:")]
    if not features:
        return Markup('<p class="muted">no probe samples</p>')
    span = span_of(s)
    data = buckets([x for x in s.samples if x.target in features], span, columns)
    width, height, x0, top, plot_w = 860, 250, 66, 10, 676
    plot_h = 190
    hi = max((b.max_latency_ms for bs in data.values() for b in bs), default=10.0)
    decades = max(1, math.ceil(math.log10(max(hi, 10.0))))

    def y(ms: float) -> float:
        return top + plot_h * (1 - min(math.log10(max(ms, 1.0)) / decades, 1.0))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="probe latency timeline of {escape(s.name)}">'
    ]
    parts += _window_rects(s, x0, plot_w, top, plot_h, span)
    for d in range(decades + 1):
        yy = y(10.0**d)
        parts.append(
            f'<line x1="{x0}" y1="{_f(yy)}" x2="{x0 + plot_w}" y2="{_f(yy)}" stroke="#e3e3e3"/>'
            f'<text x="{x0 - 6}" y="{_f(yy + 4)}" text-anchor="end">{10**d:g} ms</text>'
        )
    parts += _time_axis(x0, plot_w, top + plot_h, span)
    markers = []
    for n, feature in enumerate(features):
        colour, dash = _line_style(n, feature)
        points = " ".join(
            f"{_f(x0 + plot_w * (b.index + 0.5) / columns)},{_f(y(b.max_latency_ms))}" for b in data[feature]
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.3" '
            f'opacity="0.8"{dash}><title>{escape(feature)}</title></polyline>'
        )
        for b in data[feature]:
            if b.worst is not ProbeOutcome.SERVED:
                cx = x0 + plot_w * (b.index + 0.5) / columns
                markers.append(
                    f'<circle cx="{_f(cx)}" cy="{_f(y(b.max_latency_ms))}" '
                    f'r="2.6" fill="{OUTCOME_COLOURS[b.worst]}"><title>{escape(feature)}: {b.worst.value}, '
                    f"{b.max_latency_ms:.0f} ms</title></circle>"
                )
    parts += markers
    # The feature legend sits right of the plot so the plot keeps the width.
    for n, feature in enumerate(features):
        yy = top + 12 + n * 15
        colour, dash = _line_style(n, feature)
        parts.append(
            f'<line x1="{x0 + plot_w + 10}" y1="{yy - 4}" x2="{x0 + plot_w + 24}" y2="{yy - 4}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{x0 + plot_w + 28}" y="{yy}">{escape(feature)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap_svg(s: ScenarioResult, *, columns: int = 60) -> Markup:
    """Each target's dominant outcome per time slice; runs of one colour are merged to keep the SVG small."""
    targets = ordered_targets(s.samples)
    if not targets:
        return Markup('<p class="muted">no probe samples</p>')
    span = span_of(s)
    # No more slices than the sparsest target has samples, so a slice without a probe is rare;
    # where one happens the previous outcome holds (the state until the next probe said otherwise).
    per_target = Counter(x.target for x in s.samples)
    columns = max(10, min(columns, min(per_target.values())))
    data = buckets(s.samples, span, columns)
    x0, plot_w, row_h, top = 130, 700, 14, 6
    height = top + row_h * len(targets) + 26
    parts = [
        f'<svg class="chart" viewBox="0 0 860 {height}" role="img" '
        f'aria-label="outcome heatmap of {escape(s.name)}">'
    ]
    cell_w = plot_w / columns
    for r, target in enumerate(targets):
        yy = top + r * row_h
        parts.append(f'<text x="{x0 - 6}" y="{_f(yy + row_h - 3)}" text-anchor="end">{escape(target)}</text>')
        parts.append(f'<rect x="{x0}" y="{yy}" width="{plot_w}" height="{row_h - 1}" fill="{NO_DATA}"/>')
        by_index: dict[int, ProbeOutcome] = {}
        held: ProbeOutcome | None = None
        seen = {b.index: b.dominant for b in data.get(target, [])}
        for i in range(columns):
            held = seen.get(i, held)
            if held is not None:
                by_index[i] = held
        i = 0
        while i < columns:
            outcome = by_index.get(i)
            j = i
            while j + 1 < columns and by_index.get(j + 1) is outcome:
                j += 1
            if outcome is not None:
                parts.append(
                    f'<rect x="{_f(x0 + i * cell_w)}" y="{yy}" width="{_f((j - i + 1) * cell_w)}" '
                    f'height="{row_h - 1}" fill="{OUTCOME_COLOURS[outcome]}">'
                    f"<title>{escape(target)} {i * span / columns:.1f}s–{(j + 1) * span / columns:.1f}s: "
                    f"{outcome.value}</title></rect>"
                )
            i = j + 1
    bottom = top + row_h * len(targets)
    for window, dash in ((s.fault_window, "4 3"), (s.active_window, "")):
        if window is None:
            continue
        for v in window:
            xx = x0 + plot_w * min(max(v / span, 0.0), 1.0)
            parts.append(
                f'<line x1="{_f(xx)}" y1="{top - 4}" x2="{_f(xx)}" y2="{bottom + 2}" stroke="#222" '
                f'stroke-width="1.2" stroke-dasharray="{dash}"/>'
            )
    parts += _time_axis(x0, plot_w, bottom + 2, span)
    parts.append("</svg>")
    return Markup("".join(parts))
