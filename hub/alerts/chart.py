"""A PNG chart of a tank's last hours for the technician's e-mail (matplotlib, Agg)."""

from __future__ import annotations

import io
from datetime import datetime

from milk_common.coldchain_limits import COLDCHAIN_DEFAULTS


def tank_chart_png(samples: list[tuple[datetime, float | None]], title: str, *,
                   limits_c: tuple[float, ...] = COLDCHAIN_DEFAULTS.chart_lines_c(),
                   mark: datetime | None = None) -> bytes:
    """Temperature over time, gaps (no valid reading) left as gaps, limits as lines
    (default: the cold chain's target, cold and first-check limits from
    `milk_common.coldchain_limits`; the last one drawn in red)."""
    import matplotlib
    matplotlib.use("Agg")      # no display on a server
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6), dpi=90)
    ax = fig.subplots()
    times = [t for t, _ in samples]
    temps = [float("nan") if v is None else v for _, v in samples]
    ax.plot(times, temps, color="tab:blue", linewidth=1.5)
    for limit in limits_c:
        ax.axhline(limit, color="tab:red" if limit == limits_c[-1] else "tab:orange",
                   linestyle="--", linewidth=0.8)
    if mark is not None:
        ax.axvline(mark, color="tab:red", linewidth=1.0)
    ax.set_title(title)
    ax.set_ylabel("°C")
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
