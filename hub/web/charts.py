"""Inline SVG charts drawn on the server (pure: numbers in, markup out).

No chart library and no JavaScript: the page works offline, prints, and a
test can read the numbers back from the markup. Every chart scales to its
container (`viewBox`, width 100 %).
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 26


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / max(ticks, 1)
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def _frame(y_lo: float, y_hi: float, label: str) -> tuple[list[str], callable]:
    """Axis lines and horizontal grid; returns the parts and the value -> y function."""
    plot_h = HEIGHT - TOP - BOTTOM
    span = (y_hi - y_lo) or 1.0

    def y_of(v: float) -> float:
        return TOP + plot_h * (1 - (v - y_lo) / span)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">']
    step = _nice_step(y_hi - y_lo)
    tick = math.ceil(y_lo / step) * step
    while tick <= y_hi + 1e-9:
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        tick += step
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
                 f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
                 f'y2="{HEIGHT - BOTTOM}"/>')
    return parts, y_of


def bar_chart(bars: list[tuple[str, float]], label: str, unit: str = "") -> str:
    """Vertical bars, one per (x label, value); every other label shown when crowded."""
    if not bars:
        return ""
    hi = max(v for _, v in bars) or 1.0
    parts, y_of = _frame(0.0, hi * 1.1, label)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(bars)
    every = 1 if len(bars) <= 16 else 2
    for i, (name, value) in enumerate(bars):
        x = LEFT + i * slot + slot * 0.15
        y = y_of(value)
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{HEIGHT - BOTTOM - y:.1f}"><title>{escape(name)}: {value:.2f} {escape(unit)}'
                     f'</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="tick" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" '
                         f'text-anchor="middle">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: list[tuple[str, float | None]], label: str, *,
               reference: tuple[float, str] | None = None, unit: str = "") -> str:
    """A line over categories (days); None leaves a gap; `reference` a dashed line."""
    values = [v for _, v in points if v is not None]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if reference:
        lo, hi = min(lo, reference[0]), max(hi, reference[0])
    pad = max((hi - lo) * 0.15, 0.2)
    parts, y_of = _frame(lo - pad, hi + pad, label)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(points)
    every = 1 if len(points) <= 16 else 2
    if reference:
        y = y_of(reference[0])
        parts.append(f'<line class="limit" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="limit-label" x="{WIDTH - RIGHT - 2}" y="{y - 4:.1f}" '
                     f'text-anchor="end">{escape(reference[1])}</text>')
    path, dots, pen_down = [], [], False
    for i, (name, value) in enumerate(points):
        x = LEFT + i * slot + slot / 2
        if i % every == 0:
            parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                         f'{escape(name)}</text>')
        if value is None:
            pen_down = False
            continue
        y = y_of(value)
        path.append(f'{"L" if pen_down else "M"}{x:.1f},{y:.1f}')
        pen_down = True
        dots.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(name)}: '
                    f'{value:.2f} {escape(unit)}</title></circle>')
    parts.append(f'<path class="line" d="{" ".join(path)}"/>')   # under the dots
    parts.extend(dots)
    parts.append("</svg>")
    return "".join(parts)


def time_chart(samples: list[tuple[datetime, float | None]], label: str, *,
               limits: list[tuple[float, str, str]] = (), hour_labels: bool = True) -> str:
    """Temperature over time. A sample without a valid reading (None) is a gap.
    `limits`: (value °C, css class, caption) horizontal lines (the cold chain's)."""
    valid = [(t, v) for t, v in samples if v is not None]
    if not valid:
        return ""
    values = [v for _, v in valid] + [value for value, _, _ in limits]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.1, 0.5)
    parts, y_of = _frame(min(lo - pad, 0.0), hi + pad, label)
    t0, t1 = samples[0][0], samples[-1][0]
    span_s = (t1 - t0).total_seconds() or 1.0
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(t: datetime) -> float:
        return LEFT + plot_w * (t - t0).total_seconds() / span_s

    for value, css, caption in limits:
        y = y_of(value)
        parts.append(f'<line class="{escape(css)}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="limit-label" x="{WIDTH - RIGHT - 2}" y="{y - 3:.1f}" '
                     f'text-anchor="end">{escape(caption)}</text>')
    if hour_labels:
        ticks = 4
        for i in range(ticks + 1):
            t = t0 + (t1 - t0) * i / ticks
            anchor = "start" if i == 0 else "end" if i == ticks else "middle"
            parts.append(f'<text class="tick" x="{x_of(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                         f'{t:%d/%m %H:%M}</text>')
    # A reading missing (None) or a silence much longer than the usual spacing
    # breaks the line; a reading alone between breaks is drawn as a dot.
    times = [t for t, _ in valid]
    spacing = sorted((b - a).total_seconds() for a, b in zip(times, times[1:]))
    max_gap_s = max(3 * spacing[len(spacing) // 2], 60.0) if spacing else 60.0
    segments: list[list[tuple[float, float]]] = [[]]
    last_t = None
    for t, v in samples:
        if v is None or (last_t is not None and (t - last_t).total_seconds() > max_gap_s):
            if segments[-1]:
                segments.append([])
        if v is not None:
            segments[-1].append((x_of(t), y_of(v)))
            last_t = t
    path = []
    few = len(valid) < 60            # sparse readings: show each one
    for seg in segments:
        if few and len(seg) > 1:
            parts.extend(f'<circle class="dot temp" cx="{x:.1f}" cy="{y:.1f}" r="2"/>' for x, y in seg)
        if len(seg) == 1:
            parts.append(f'<circle class="dot temp" cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="2"/>')
        elif seg:
            path.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in seg))
    parts.append(f'<path class="line temp" d="{" ".join(path)}"/>')
    parts.append("</svg>")
    return "".join(parts)
