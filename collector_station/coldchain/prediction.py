"""Early warnings from the recent samples (numpy): will the cooling make its
deadlines, is a cold tank warming. Pure functions over plain data: each
returns a finding (a reason code and its values) or None; when to give it
(confirmation, once per window) is the machine's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import numpy as np

from collector_station.coldchain.settings import ColdchainSettings

# Time constants tried for the cooling curve, 5 min to 24 h (log-spaced).
_RATES_PER_S = 1.0 / np.geomspace(300.0, 86400.0, 200)


@dataclass(frozen=True)
class CoolingFit:
    """T(t) = asymptote_c + amplitude_c * exp(-rate_per_s * (t - t0))."""

    t0: datetime
    asymptote_c: float
    amplitude_c: float
    rate_per_s: float

    def temp_at(self, t: datetime) -> float:
        x = (t - self.t0).total_seconds()
        return self.asymptote_c + self.amplitude_c * math.exp(-self.rate_per_s * x)

    def reaches(self, temp_c: float) -> datetime | None:
        """When the curve gets down to temp_c; None if it never does."""
        if self.amplitude_c <= 0 or temp_c <= self.asymptote_c:
            return None
        gap = self.amplitude_c / (temp_c - self.asymptote_c)
        x = math.log(gap) / self.rate_per_s if gap > 1 else 0.0
        return self.t0 + timedelta(seconds=x)


@dataclass(frozen=True)
class Finding:
    """What a prediction found: the warning's reason code, the values that
    word it, and the projected time (`eta`) when there is one."""

    reason_code: str
    values: dict
    eta: datetime | None = None


def fit_cooling(samples: Iterable[tuple[datetime, float]], setpoint_c: float) -> CoolingFit | None:
    """Least-squares fit of Newton's cooling curve to the samples.

    For each trial rate the curve is linear in its amplitude (and asymptote),
    so numpy's lstsq solves it exactly; the rate with the least squared
    error wins. The asymptote is the compressor's set point: early in the
    curve a free asymptote is badly determined (noise of 1/16 °C moves it by
    a degree). Only once the samples span two time constants, so the bend is
    visible, and a free fit levelling off above the set point is clearly
    better, does it win (a compressor that cannot pull the milk down). None when the samples are
    not falling at all.
    """
    pts = list(samples)
    if len(pts) < 3:
        return None
    t0 = pts[0][0]
    x = np.array([(t - t0).total_seconds() for t, _ in pts])
    y = np.array([v for _, v in pts])
    span_s = float(x[-1] - x[0])
    fixed = free = None
    for k in _RATES_PER_S:
        e = np.exp(-k * x)
        amp = float(np.dot(e, y - setpoint_c) / np.dot(e, e))
        if amp > 0:
            sse = float(np.sum((setpoint_c + amp * e - y) ** 2))
            if fixed is None or sse < fixed[0]:
                fixed = (sse, setpoint_c, amp, float(k))
        (asym, amp2), *_ = np.linalg.lstsq(np.column_stack([np.ones_like(e), e]), y, rcond=None)
        if amp2 > 0 and asym > setpoint_c and span_s * k >= 2.0:
            sse = float(np.sum((asym + amp2 * e - y) ** 2))
            if free is None or sse < free[0]:
                free = (sse, float(asym), float(amp2), float(k))
    # One more parameter always fits a little better; only a clearly better
    # fit (a plateau the set point cannot explain) wins.
    best = free if free is not None and (fixed is None or free[0] < 0.7 * fixed[0]) else fixed
    if best is None:
        return None
    return CoolingFit(t0, best[1], best[2], best[3])


def rise_rate_c_per_h(samples: Iterable[tuple[datetime, float]]) -> float:
    """Least-squares slope of the samples, °C per hour."""
    pts = list(samples)
    t0 = pts[0][0]
    x = np.array([(t - t0).total_seconds() / 3600.0 for t, _ in pts])
    y = np.array([v for _, v in pts])
    slope, _ = np.polyfit(x, y, 1)
    return float(slope)


def cooling_samples(recent: Sequence[tuple[datetime, float]], added_at: datetime, t: datetime,
                    s: ColdchainSettings) -> list[tuple[datetime, float]] | None:
    """The samples the cooling fit uses at `t`, or None when they are too few
    or span too short a time to say anything."""
    start = max(added_at + timedelta(seconds=s.predict_skip_s), t - timedelta(seconds=s.predict_window_s))
    pts = [p for p in recent if p[0] >= start]
    if len(pts) < s.predict_min_samples or (pts[-1][0] - pts[0][0]).total_seconds() < s.predict_min_span_s:
        return None
    return pts


def cooling_outlook(pts: Sequence[tuple[datetime, float]], added_at: datetime, t: datetime,
                    s: ColdchainSettings) -> Finding | None:
    """Will the cooling since `added_at` miss a deadline? None when the
    projection of `pts` (see `cooling_samples`) makes both."""
    first_at = added_at + timedelta(seconds=s.first_check_s)
    end_at = added_at + timedelta(seconds=s.cooling_window_s)
    fit = fit_cooling(pts, s.setpoint_c)
    if fit is None:
        return Finding("predicted_never", {"limit": s.target_c, "deadline": end_at})
    eta = fit.reaches(s.target_c)
    if t < first_at and fit.temp_at(first_at) > s.first_check_max_c:
        return Finding("predicted_miss_first", {"predicted": fit.temp_at(first_at), "deadline": first_at,
                                                "limit": s.first_check_max_c}, eta)
    if eta is None:
        return Finding("predicted_never", {"limit": s.target_c, "deadline": end_at})
    if eta > end_at:
        return Finding("predicted_miss_target", {"limit": s.target_c, "eta": eta, "deadline": end_at}, eta)
    return None


def rise_outlook(recent: Sequence[tuple[datetime, float]], cold_since: datetime, t: datetime,
                 s: ColdchainSettings) -> Finding | None:
    """Is a cold tank warming (a failing compressor)? The trend at `t` of the
    cold spell's samples since `cold_since` (at most `rise_window_s`); None
    when the samples are too few or the rise is below `rise_warn_c_per_h`."""
    start = max(cold_since, t - timedelta(seconds=s.rise_window_s))
    pts = [p for p in recent if p[0] >= start]
    if len(pts) < s.predict_min_samples or (pts[-1][0] - pts[0][0]).total_seconds() < s.rise_min_span_s:
        return None
    rate = rise_rate_c_per_h(pts)
    if rate < s.rise_warn_c_per_h:
        return None
    now_c = float(np.mean([v for _, v in pts[-3:]]))
    hours = max(0.0, (s.cold_max_c - now_c) / rate)
    eta = t + timedelta(hours=hours)
    return Finding("compressor_suspect", {"rate": rate, "limit": s.cold_max_c, "eta": eta}, eta)
