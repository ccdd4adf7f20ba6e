"""Server-side SVG charts: PR curves, reliability diagrams, line charts, histograms.

Pictures are part of the product (an operator would rather look than read), and the service
ships no JavaScript or CDN, so charts are drawn here as self-contained SVG strings: a fixed
viewBox, an accessible <title>, a colour-blind-safe palette with dashes as a second cue, and
every label XML-escaped (`_svg.esc`). Empty series, single points and NaNs draw a frame with
what there is rather than raising. Pure Python, no Django, no project imports.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence

from predictions.core.charts._svg import (
    PALETTE,
    Point,
    Scale,
    _n,
    document,
    esc,
    finite,
    fmt_number,
    frame,
    legend,
    nice_ticks,
    note,
    polyline,
    span,
    time_formatter,
    time_ticks,
)

__all__ = ["pr_curve_svg", "reliability_svg", "line_chart_svg", "histogram_svg",
           "step_histogram_svg", "bin_shares", "esc"]

UNIT = Scale(0.0, 1.0, 0.0, 1.0)
# A time chart with a single instant shows it in the middle of ten minutes.
SINGLE_TIME_HALF_WIDTH = 300.0


def _unit_frame(x_label: str, y_label: str) -> list[str]:
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    return frame(UNIT, x_label=x_label, y_label=y_label, x_ticks=ticks, y_ticks=ticks)


def pr_curve_svg(curves: Mapping[str, Mapping[str, Sequence[float]]], prevalence: float | None,
                 title: str) -> str:
    """Precision against recall per model, with the prevalence (a random ranking's
    precision) dashed: PR-AUC only means something beside it."""
    body = _unit_frame("recall", "precision")
    names = list(curves)
    for i, name in enumerate(names):
        pts = finite(list(zip(curves[name].get("recall", []), curves[name].get("precision", []))))
        body.append(polyline(UNIT, sorted(pts), i))
    if not any(curves[n].get("recall") for n in names):
        body.append(note("no curve data"))
    entries = list(names)
    if prevalence is not None and math.isfinite(prevalence):
        y = UNIT.py(min(max(prevalence, 0.0), 1.0))
        body.append(f'<line x1="{_n(UNIT.px(0))}" y1="{_n(y)}" x2="{_n(UNIT.px(1))}" '
                    f'y2="{_n(y)}" stroke="#000000" stroke-dasharray="1 3" stroke-width="1.5"/>')
        entries.append(f"prevalence {prevalence:.3f}")
    body += _legend_with_reference(entries, "1 3", len(names))
    return document(title, body)


def _legend_with_reference(entries: list[str], ref_dash: str, n_series: int,
                           colour: str = "#000000") -> list[str]:
    """The legend of a unit chart whose last entry (if beyond the series) is the black
    reference line rather than a palette colour; it sits at the right end."""
    out = legend(entries[:n_series])
    if len(entries) > n_series:
        x = 460
        out += [f'<line x1="{x}" y1="34" x2="{x + 22}" y2="34" stroke="{colour}" '
                f'stroke-width="1.5" stroke-dasharray="{ref_dash}"/>',
                f'<text x="{x + 26}" y="38" font-family="sans-serif" font-size="12" '
                f'fill="#333">{esc(entries[-1])}</text>']
    return out


def reliability_svg(bins: Mapping[str, Sequence[Mapping[str, float]]], title: str) -> str:
    """Observed spike frequency against mean predicted probability per bin; the diagonal is
    perfect calibration, and a marker's area grows with the rows in its bin."""
    body = _unit_frame("mean predicted probability", "observed frequency")
    body.append(f'<line x1="{_n(UNIT.px(0))}" y1="{_n(UNIT.py(0))}" x2="{_n(UNIT.px(1))}" '
                f'y2="{_n(UNIT.py(1))}" stroke="#555555" stroke-dasharray="4 4"/>')
    names = list(bins)
    biggest = max((float(b.get("n", 0) or 0) for n in names for b in bins[n]), default=0.0)
    for i, name in enumerate(names):
        rows = [(b.get("p_mean"), b.get("freq"), b.get("n", 0)) for b in bins[name]]
        pts = finite([(p, f) for p, f, _ in rows])
        body.append(polyline(UNIT, sorted(pts), i))
        for p, f, n in rows:
            if not finite([(p, f)]):
                continue
            r = 2.5 + 6.0 * math.sqrt(max(float(n or 0), 0.0) / biggest) if biggest else 3.0
            body.append(f'<circle cx="{_n(UNIT.px(float(p)))}" cy="{_n(UNIT.py(float(f)))}" '
                        f'r="{_n(r)}" fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.6">'
                        f"<title>{esc(name)}: n={esc(n)}</title></circle>")
    if not any(bins[n] for n in names):
        body.append(note("no calibration data"))
    body += _legend_with_reference(names + ["perfect calibration"], "4 4", len(names),
                                   colour="#555555")
    return document(title, body)


def line_chart_svg(series: Mapping[str, Sequence[Point]], *, title: str, x_label: str,
                   y_label: str, x_is_time: bool = False,
                   y_range: tuple[float, float] | None = None,
                   markers: Mapping[str, Sequence[float]] | Sequence[float] | None = None) -> str:
    """Lines of (x, y) points; x may be epoch seconds (UTC labels). `markers` are x positions
    to flag along the bottom (e.g. spikes), as {label: xs} or a plain list."""
    marks = _marker_groups(markers)
    clean = {name: finite(points) for name, points in series.items()}
    xs = [x for pts in clean.values() for x, _ in pts] + [x for v in marks.values() for x in v]
    ys = [y for pts in clean.values() for _, y in pts]
    scale = Scale(*span(xs, pad=0.0, flat_width=SINGLE_TIME_HALF_WIDTH if x_is_time else None),
                  *span(ys, y_range))
    # an empty chart has no x values to label (not the 1970 epoch or 0..1)
    x_ticks = (time_ticks if x_is_time else nice_ticks)(scale.x0, scale.x1) if xs else []
    x_fmt = time_formatter(scale.x0, scale.x1) if x_is_time else fmt_number
    body = frame(scale, x_label=x_label, y_label=y_label, x_ticks=x_ticks,
                 y_ticks=nice_ticks(scale.y0, scale.y1), x_fmt=x_fmt)
    names = list(series)
    for i, name in enumerate(names):
        # the raw points, so that a NaN breaks the line; a lone point gets a dot
        body.append(polyline(scale, [_as_float_point(p) for p in series[name]], i))
        if len(clean[name]) == 1:
            x, y = clean[name][0]
            body.append(f'<circle cx="{_n(scale.px(x))}" cy="{_n(scale.py(y))}" r="3" '
                        f'fill="{PALETTE[i % len(PALETTE)]}"/>')
    body += _markers(scale, marks, len(names))
    if not xs:
        body.append(note("no data"))
    body += legend(names + list(marks), markers=len(marks))
    return document(title, body)


def _as_float_point(p: Sequence[float]) -> Point:
    try:
        return float(p[0]), float(p[1])
    except (TypeError, ValueError, IndexError):
        return math.nan, math.nan


def _marker_groups(markers: Mapping[str, Sequence[float]] | Sequence[float] | None
                   ) -> dict[str, list[float]]:
    if markers is None:
        return {}
    if isinstance(markers, Mapping):
        groups = {str(k): list(v) for k, v in markers.items()}
    else:
        groups = {"marked": list(markers)}
    return {k: [float(x) for x in v if _is_finite(x)] for k, v in groups.items()}


def _is_finite(x: object) -> bool:
    try:
        return math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _markers(scale: Scale, marks: Mapping[str, list[float]], first: int) -> list[str]:
    """Small upward triangles on the x axis, one colour per group."""
    out = []
    base = scale.py(scale.y0)
    for j, (name, xs) in enumerate(marks.items()):
        colour = PALETTE[(first + j) % len(PALETTE)]
        for x in xs:
            px = scale.px(x)
            out.append(f'<path d="M{_n(px)} {_n(base - 9)}l-4 8h8z" fill="{colour}">'
                       f"<title>{esc(name)}</title></path>")
    return out


def bin_shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Share of the finite values in each [edge_i, edge_i+1) (the last bin closed)."""
    vals = [float(v) for v in values if _is_finite(v)]
    counts = [0] * max(len(edges) - 1, 0)
    for v in vals:
        i = bisect_right(edges, v) - 1
        if i == len(counts) and v == edges[-1]:
            i -= 1
        if 0 <= i < len(counts):
            counts[i] += 1
    total = len(vals)
    return [c / total if total else 0.0 for c in counts]


def histogram_svg(series: Mapping[str, Sequence[float]], *, title: str, x_label: str,
                  y_label: str = "share of values", bins: int = 30,
                  x_range: tuple[float, float] | None = None) -> str:
    """Overlaid outline histograms of raw values on shared bins (shares, so series of
    different lengths compare)."""
    every = [float(v) for vals in series.values() for v in vals if _is_finite(v)]
    lo, hi = span(every, x_range, pad=0.0)
    bins = max(int(bins), 1)
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    shares = {name: bin_shares(vals, edges) for name, vals in series.items()}
    return step_histogram_svg(shares, edges, title=title, x_label=x_label, y_label=y_label)


def step_histogram_svg(shares: Mapping[str, Sequence[float]], edges: Sequence[float], *,
                       title: str, x_label: str, y_label: str = "share of values") -> str:
    """Outline histograms of already-binned shares (len(edges) - 1 values per series)."""
    edges = [float(e) for e in edges if _is_finite(e)]
    tops = [float(s) for vals in shares.values() for s in vals if _is_finite(s)]
    scale = Scale(*span(edges, pad=0.0), *span([0.0] + tops, pad=0.0))
    scale = Scale(scale.x0, scale.x1, 0.0, scale.y1 * 1.08 if scale.y1 > 0 else 1.0)
    body = frame(scale, x_label=x_label, y_label=y_label,
                 x_ticks=nice_ticks(scale.x0, scale.x1), y_ticks=nice_ticks(0.0, scale.y1))
    names = list(shares)
    for i, name in enumerate(names):
        vals = list(shares[name])[: max(len(edges) - 1, 0)]
        pts: list[Point] = [(edges[0], 0.0)] if vals else []
        for j, s in enumerate(vals):
            s = float(s) if _is_finite(s) else 0.0
            pts += [(edges[j], s), (edges[j + 1], s)]
        if vals:
            pts.append((edges[len(vals)], 0.0))
        body.append(polyline(scale, pts, i))
    if not tops:
        body.append(note("no data"))
    body += legend(names)
    return document(title, body)
