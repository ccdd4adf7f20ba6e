"""SVG building blocks for the charts: escaping, scales, nice ticks, frame, lines, legend.

Every piece of text that reaches the SVG goes through `esc` here, so callers can pass labels
from anywhere (product ids, model names, user-edited reasons) without thinking about markup.
Numbers are written with `_n` so a NaN or an infinity can never reach an attribute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 44, 56
# Okabe–Ito: distinguishable with the common colour-vision deficiencies; dashes add a
# second cue so series also differ in greyscale print.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2", "10 4"]
FONT = 'font-family="sans-serif" font-size="12"'

Point = tuple[float, float]


def esc(text: object) -> str:
    """Text safe inside an element or a double-quoted attribute."""
    return escape(str(text), {'"': "&quot;", "'": "&#39;"})


def _n(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "0"


def finite(points: Sequence[Point]) -> list[Point]:
    out = []
    for x, y in points:
        try:
            fx, fy = float(x), float(y)
        except (TypeError, ValueError):
            continue
        if math.isfinite(fx) and math.isfinite(fy):
            out.append((fx, fy))
    return out


@dataclass(frozen=True)
class Scale:
    """Data range → pixel range of the plot area (y grows upwards on screen)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


def span(values: Sequence[float], fixed: tuple[float, float] | None = None,
         pad: float = 0.05, flat_width: float | None = None) -> tuple[float, float]:
    """A non-empty range covering the values (or the fixed one), a little padded. A single
    value sits in the middle of ±`flat_width` (default: 10 % of it, or 1 for zero); a time
    axis passes minutes here, since 10 % of an epoch second is years."""
    if fixed is not None and fixed[1] > fixed[0]:
        return float(fixed[0]), float(fixed[1])
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi <= lo:
        width = flat_width or abs(lo) * 0.1 or 1.0
        return lo - width, hi + width
    extra = (hi - lo) * pad
    return lo - extra, hi + extra


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round-number ticks (1, 2, 2.5, 5 × 10^k) inside [lo, hi]: at most count + 1 of them."""
    raw = (hi - lo) / max(count, 1)
    if not raw > 0 or not math.isfinite(raw) or not math.isfinite(lo):
        return [lo] if math.isfinite(lo) else []
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


_TIME_STEPS = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
               86400, 172800, 604800]


def time_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Ticks on whole seconds/minutes/hours/days (UTC) for epoch-second axes: at most
    count + 1 of them, however wide the range (beyond a week the step is whole weeks)."""
    raw = (hi - lo) / max(count, 1)
    if not raw > 0 or not math.isfinite(raw):
        return []
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        step = math.ceil(raw / _TIME_STEPS[-1]) * _TIME_STEPS[-1]
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) // step) + 1)]


def _label_x(x: float, text: str) -> tuple[float, str]:
    """Where a tick label sits and how it is anchored: centred under its tick, unless that
    would cut it at the edge of the picture (the last time label lost its final digit)."""
    half = 3.5 * len(text)  # ~7 px per character at font-size 12
    if x + half > WIDTH - 2:
        return WIDTH - 2, "end"
    if x - half < 2:
        return 2, "start"
    return x, "middle"


def fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.6g}"


def time_formatter(lo: float, hi: float) -> Callable[[float], str]:
    pattern = "%H:%M:%S" if hi - lo < 600 else "%H:%M" if hi - lo < 2 * 86400 else "%m-%d"
    return lambda v: time.strftime(pattern, time.gmtime(v))


def frame(scale: Scale, *, x_label: str, y_label: str, x_ticks: list[float],
          y_ticks: list[float], x_fmt: Callable[[float], str] = fmt_number) -> list[str]:
    """Grid, axes, tick labels and axis labels."""
    bottom, top = HEIGHT - BOTTOM, TOP
    out = ['<g stroke="#dddddd" stroke-width="1">']
    out += [f'<line x1="{_n(scale.px(x))}" y1="{top}" x2="{_n(scale.px(x))}" y2="{bottom}"/>'
            for x in x_ticks]
    out += [f'<line x1="{LEFT}" y1="{_n(scale.py(y))}" x2="{WIDTH - RIGHT}" '
            f'y2="{_n(scale.py(y))}"/>' for y in y_ticks]
    out.append("</g>")
    out.append(f'<path d="M{LEFT} {top}V{bottom}H{WIDTH - RIGHT}" fill="none" stroke="#333"/>')
    out.append(f'<g {FONT} fill="#333">')
    for x in x_ticks:
        label = x_fmt(x)
        lx, anchor = _label_x(scale.px(x), label)
        out.append(f'<text x="{_n(lx)}" y="{bottom + 16}" text-anchor="{anchor}">'
                   f"{esc(label)}</text>")
    out += [f'<text x="{LEFT - 6}" y="{_n(scale.py(y) + 4)}" text-anchor="end">'
            f"{esc(fmt_number(y))}</text>" for y in y_ticks]
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" '
               f'text-anchor="middle">{esc(x_label)}</text>')
    out.append(f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
               f'text-anchor="middle">{esc(y_label)}</text>')
    out.append("</g>")
    return out


def polyline(scale: Scale, points: Sequence[Point], i: int, *, dash: str | None = None,
             width: float = 2.0) -> str:
    """One series as a path; a non-finite point breaks the line instead of ending it."""
    parts, pen_down = [], False
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_n(scale.px(x))} {_n(scale.py(y))}")
        pen_down = True
    if not parts:
        return ""
    d = DASHES[i % len(DASHES)] if dash is None else dash
    dash_attr = f' stroke-dasharray="{d}"' if d else ""
    return (f'<path d="{"".join(parts)}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
            f'stroke-width="{width}"{dash_attr}/>')


def legend(names: Sequence[str], *, dashes: Sequence[str] | None = None,
           markers: int = 0) -> list[str]:
    """Entries in a row above the plot, each a line sample in its colour and dash; the last
    `markers` entries show the triangle that marks x positions instead."""
    out, x = [f'<g {FONT} fill="#333">'], float(LEFT)
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        if i >= len(names) - markers:
            out.append(f'<path d="M{_n(x + 11)} {TOP - 14}l-4 8h8z" fill="{colour}"/>')
        else:
            d = (dashes[i] if dashes else DASHES[i % len(DASHES)])
            dash_attr = f' stroke-dasharray="{d}"' if d else ""
            out.append(f'<line x1="{_n(x)}" y1="{TOP - 10}" x2="{_n(x + 22)}" '
                       f'y2="{TOP - 10}" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{_n(x + 26)}" y="{TOP - 6}">{esc(name)}</text>')
        x += 40 + 7 * len(str(name))
    out.append("</g>")
    return out


def document(title: str, body: list[str]) -> str:
    """The whole SVG: fixed viewBox, an accessible title, the title drawn on top."""
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img">',
        f"<title>{esc(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-family="sans-serif" font-size="14" '
        f'font-weight="bold" fill="#222">{esc(title)}</text>',
        *body,
        "</svg>",
    ])


def note(text: str) -> str:
    """A message in the middle of the plot (e.g. no data)."""
    return (f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{(TOP + HEIGHT - BOTTOM) / 2}" '
            f'text-anchor="middle" {FONT} fill="#666">{esc(text)}</text>')
