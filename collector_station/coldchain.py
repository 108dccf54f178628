"""The tank cold chain: a pure state machine per tank, its prediction, and
the thin shell that runs it at the station.

Rules (shared/domain/quality.md, every threshold in `ColdchainSettings`):

- `empty`: no milk. Temperatures raise no alarm. The initial state, before
  any event, and the state after `emptied` (the buyer's pick-up).
- `cooling`: an addition opened the cooling window (2 h, restarted by every
  addition). Checks: <= 10 °C 1 h after the last addition, <= 4 °C 2 h after
  it. Reaching <= 4 °C earlier makes the tank `cold` and closes the window.
- `cold`: milk, outside a cooling window, at or below 6 °C (a reading above
  6 °C is tolerated for 15 minutes).
- `break`: a missed check, or >= 15 continuous minutes above 6 °C outside a
  window. Latched: only a reading <= 4 °C (or `emptied`) ends it; an
  addition does not, because the blend holds the milk that broke the chain.
- `sensor_fault`: no valid reading for 2 minutes while there is milk. Never
  `cold` while silent.

Time is only what the samples say: every check is evaluated at a sample
time. A deadline that falls between two samples fires at the first sample
at or after it (the change carries that sample's time). A sample without a
valid reading still advances time: it can raise `sensor_fault`, and before
the 2-minute mark the last valid reading stands in for it in the checks
(it can cause a break, never `cold`). See docs/coldchain.md.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

log = logging.getLogger(__name__)

STATES = ("empty", "cooling", "cold", "break", "sensor_fault")
EVENTS = ("", "milk_added", "emptied")


@dataclass(frozen=True)
class ColdchainSettings:
    """Thresholds of the cold chain, defaults of quality.md."""

    cooling_window_s: float = 7200.0      # the window after each addition
    first_check_s: float = 3600.0         # the intermediate check ...
    first_check_max_c: float = 10.0       # ... and its limit
    target_c: float = 4.0                 # end-of-window limit, "cold" earlier, recovery from break
    cold_max_c: float = 6.0               # cold holds at or below this
    warm_break_s: float = 900.0           # continuous time above cold_max_c that is a break
    sensor_silence_s: float = 120.0       # no valid reading this long: sensor_fault
    blend_max_c: float | None = None      # optional: first reading after an addition above it is a break
    # Prediction
    setpoint_c: float = 3.5               # the compressor's set point: where the cooling curve levels off
    predict_window_s: float = 1800.0      # recent samples fitted
    predict_skip_s: float = 120.0         # mixing right after an addition is not cooling
    predict_min_samples: int = 5
    predict_min_span_s: float = 300.0
    predict_confirm: int = 2              # consecutive missing projections before warning
    rise_window_s: float = 3600.0         # trend window while cold
    rise_min_span_s: float = 1200.0
    rise_warn_c_per_h: float = 0.5
    language: str = "es"

    @property
    def history_s(self) -> float:
        return max(self.predict_window_s, self.rise_window_s)


# -- texts --------------------------------------------------------------------
REASONS = {
    "es": {
        "milk_added": "se agregó leche a las {at}: enfriar a ≤{first_max} °C hasta las {first} y a ≤{target} °C hasta las {end}",
        "emptied": "tanque vaciado (recojo del comprador)",
        "target_reached": "llegó a {temp} °C ({minutes} min después del último ingreso de leche)",
        "window_ok": "a {temp} °C al cierre de la ventana de enfriamiento",
        "first_check_missed": "a {temp} °C una hora después del último ingreso (límite {limit} °C a las {deadline})",
        "window_missed": "a {temp} °C dos horas después del último ingreso (límite {limit} °C a las {deadline})",
        "blend_too_warm": "la mezcla está a {temp} °C tras el ingreso (límite {limit} °C)",
        "warm_too_long": "sobre {limit} °C desde las {since} ({minutes} min), ahora {temp} °C",
        "back_cold": "de nuevo a {temp} °C tras la ruptura de la cadena de frío",
        "sensor_silent": "sin lectura válida del sensor desde las {since} ({seconds} s)",
        "sensor_back_cooling": "el sensor volvió a leer: {temp} °C, dentro de la ventana de enfriamiento",
        "sensor_back_cold": "el sensor volvió a leer: {temp} °C",
        "sensor_back_break": "el sensor volvió a leer: {temp} °C, aún sobre {limit} °C tras la ruptura",
        "predicted_miss_first": "a este ritmo estará a {predicted} °C a las {deadline} (límite {limit} °C)",
        "predicted_miss_target": "a este ritmo llegará a {limit} °C a las {eta}, después del límite de las {deadline}",
        "predicted_never": "no se está enfriando: no llegará a {limit} °C antes de las {deadline}",
        "compressor_suspect": "temperatura en alza {rate} °C/h en tanque frío; a este ritmo pasará {limit} °C a las {eta}: revise el compresor",
    },
    "en": {
        "milk_added": "milk added at {at}: cool to <= {first_max} °C by {first} and to <= {target} °C by {end}",
        "emptied": "tank emptied (buyer's pick-up)",
        "target_reached": "reached {temp} °C ({minutes} min after the last addition)",
        "window_ok": "at {temp} °C at the end of the cooling window",
        "first_check_missed": "at {temp} °C one hour after the last addition (limit {limit} °C at {deadline})",
        "window_missed": "at {temp} °C two hours after the last addition (limit {limit} °C at {deadline})",
        "blend_too_warm": "the blend is at {temp} °C after the addition (limit {limit} °C)",
        "warm_too_long": "above {limit} °C since {since} ({minutes} min), now {temp} °C",
        "back_cold": "back at {temp} °C after the cold-chain break",
        "sensor_silent": "no valid sensor reading since {since} ({seconds} s)",
        "sensor_back_cooling": "sensor reading again: {temp} °C, inside the cooling window",
        "sensor_back_cold": "sensor reading again: {temp} °C",
        "sensor_back_break": "sensor reading again: {temp} °C, still above {limit} °C after the break",
        "predicted_miss_first": "at this rate it will be at {predicted} °C at {deadline} (limit {limit} °C)",
        "predicted_miss_target": "at this rate it reaches {limit} °C at {eta}, after the {deadline} deadline",
        "predicted_never": "not cooling: it will not reach {limit} °C before {deadline}",
        "compressor_suspect": "temperature rising {rate} °C/h in a cold tank; at this rate above {limit} °C at {eta}: check the compressor",
    },
}


def _hm(t: datetime) -> str:
    return t.strftime("%H:%M")


def _num(x: float) -> str:
    return f"{x:.1f}"


def _text(s: ColdchainSettings, code: str, **values: object) -> str:
    table = REASONS.get(s.language, REASONS["es"])
    return table[code].format(**values)


# -- plain data ---------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A state change: what a technician reads in the replay and the hub stores."""

    time: datetime
    tank: str
    state: str
    previous: str
    reason: str
    reason_code: str
    temp_c: float | None = None

    def to_json(self, time_text: str | None = None) -> dict:
        return {"time": time_text or self.time.isoformat(), "tank": self.tank, "state": self.state,
                "reason": self.reason, "previous": self.previous, "reason_code": self.reason_code,
                "temp_c": self.temp_c}


@dataclass(frozen=True)
class Warning_:
    """An early warning (prediction); the state does not change."""

    time: datetime
    tank: str
    kind: str            # predicted_miss | compressor_suspect
    state: str           # the tank's state when it was given
    reason: str
    eta: datetime | None = None

    def to_json(self, time_text: str | None = None) -> dict:
        return {"time": time_text or self.time.isoformat(), "tank": self.tank, "warning": self.kind,
                "state_now": self.state, "reason": self.reason,
                "eta": self.eta.isoformat() if self.eta else None}


@dataclass(frozen=True)
class TankState:
    """Everything the machine remembers about one tank."""

    tank: str
    state: str = "empty"
    since: datetime | None = None            # time of the last state change
    milk_since: datetime | None = None       # first addition since the tank was empty
    added_at: datetime | None = None         # the last addition
    window_open: bool = False                # cooling window open and target not reached
    first_check_done: bool = False
    blend_checked: bool = True
    broken: bool = False                     # break latched until <= target_c
    last_valid_at: datetime | None = None
    last_temp_c: float | None = None
    warm_since: datetime | None = None       # first reading above cold_max_c of a warm spell
    recent: tuple[tuple[datetime, float], ...] = ()
    warned: frozenset[str] = frozenset()     # warnings given in this window / cold spell
    miss_streak: int = 0

    @property
    def has_milk(self) -> bool:
        return self.milk_since is not None


@dataclass
class _Out:
    changes: list[Change] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)


def _set(st: TankState, t: datetime, new: str, code: str, reason: str, out: _Out,
         temp_c: float | None = None) -> TankState:
    """Enter `new`; a change is emitted only when the state really changes."""
    if new == st.state:
        return st
    out.changes.append(Change(t, st.tank, new, st.state, reason, code, temp_c))
    broken = True if new == "break" else (False if new in ("cold", "empty") else st.broken)
    return replace(st, state=new, since=t, broken=broken, warned=frozenset(), miss_streak=0)


# -- the machine --------------------------------------------------------------
def step(st: TankState, t: datetime, temp_c: float | None, event: str,
         s: ColdchainSettings) -> tuple[TankState, list[Change], list[Warning_]]:
    """One row of a trace: an optional event at `t`, then the reading at `t`
    (None: no valid reading). Returns the new state, changes and warnings."""
    st, changes, warnings = apply_event(st, t, event, s)
    if event == "emptied":
        return st, changes, warnings
    out = _Out(changes, warnings)
    st = _reading(st, t, temp_c, s, out)
    return st, out.changes, out.warnings


def apply_event(st: TankState, t: datetime, event: str, s: ColdchainSettings
                ) -> tuple[TankState, list[Change], list[Warning_]]:
    """An operator or intake event alone (`milk_added`, `emptied`, or "")."""
    out = _Out()
    if event == "emptied":
        st = _set(st, t, "empty", "emptied", _text(s, "emptied"), out)
        st = TankState(st.tank, "empty", st.since, last_valid_at=st.last_valid_at,
                       last_temp_c=st.last_temp_c)
    elif event == "milk_added":
        if st.has_milk and st.state != "sensor_fault":
            # A deadline of the previous window that passed before this row
            # is still checked, with the reading from before the addition.
            held = _held(st, t, s)
            if held is not None:
                st = _checks(st, t, held, False, s, out)
        st = _add_milk(st, t, s, out)
    return st, out.changes, out.warnings


def _add_milk(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    st = replace(st, milk_since=st.milk_since or t, added_at=t, window_open=True,
                 first_check_done=False, blend_checked=s.blend_max_c is None, warm_since=None,
                 warned=st.warned - {"predicted_miss"}, miss_streak=0)
    if st.state in ("empty", "cold"):
        reason = _text(s, "milk_added", at=_hm(t), first_max=_num(s.first_check_max_c),
                       first=_hm(t + timedelta(seconds=s.first_check_s)), target=_num(s.target_c),
                       end=_hm(t + timedelta(seconds=s.cooling_window_s)))
        st = _set(st, t, "cooling", "milk_added", reason, out)
    return st


def _held(st: TankState, t: datetime, s: ColdchainSettings) -> float | None:
    """The last valid reading, while it is recent enough to stand for now."""
    if st.last_valid_at is None or st.last_temp_c is None:
        return None
    if (t - st.last_valid_at).total_seconds() >= s.sensor_silence_s:
        return None
    return st.last_temp_c


def _reading(st: TankState, t: datetime, temp_c: float | None, s: ColdchainSettings,
             out: _Out) -> TankState:
    if temp_c is not None:
        recent = tuple(p for p in st.recent
                       if (t - p[0]).total_seconds() <= s.history_s) + ((t, temp_c),)
        st = replace(st, last_valid_at=t, last_temp_c=temp_c, recent=recent)
    if not st.has_milk:
        return st                                  # empty tank: no alarms
    if temp_c is None:
        silent_since = max(st.last_valid_at or st.milk_since, st.milk_since)
        silent_s = (t - silent_since).total_seconds()
        if st.state == "sensor_fault":
            return st
        if silent_s >= s.sensor_silence_s:
            return _set(st, t, "sensor_fault", "sensor_silent",
                        _text(s, "sensor_silent", since=silent_since.strftime("%H:%M:%S"),
                              seconds=int(silent_s)), out)
        held = _held(st, t, s)
        return st if held is None else _checks(st, t, held, False, s, out)
    st = _checks(st, t, temp_c, True, s, out)
    if st.state == "sensor_fault":              # no rule moved it: recovery by what we know now
        if st.broken:
            st = _set(st, t, "break", "sensor_back",
                      _text(s, "sensor_back_break", temp=_num(temp_c), limit=_num(s.target_c)), out, temp_c)
        elif st.window_open:
            st = _set(st, t, "cooling", "sensor_back",
                      _text(s, "sensor_back_cooling", temp=_num(temp_c)), out, temp_c)
        else:
            st = _set(st, t, "cold", "sensor_back", _text(s, "sensor_back_cold", temp=_num(temp_c)),
                      out, temp_c)
    return _predict(st, t, s, out)


def _checks(st: TankState, t: datetime, temp_c: float, valid: bool, s: ColdchainSettings,
            out: _Out) -> TankState:
    """The rules at time `t` with temperature `temp_c` (a held reading when not `valid`:
    it may cause a break, never `cold`)."""
    if st.window_open:
        added = st.added_at
        if valid and not st.blend_checked:
            st = replace(st, blend_checked=True)
            if temp_c > s.blend_max_c:
                st = _set(st, t, "break", "blend_too_warm",
                          _text(s, "blend_too_warm", temp=_num(temp_c), limit=_num(s.blend_max_c)),
                          out, temp_c)
        first_at = added + timedelta(seconds=s.first_check_s)
        end_at = added + timedelta(seconds=s.cooling_window_s)
        if not st.first_check_done and t >= first_at:
            st = replace(st, first_check_done=True)
            if temp_c > s.first_check_max_c:
                st = _set(st, t, "break", "first_check_missed",
                          _text(s, "first_check_missed", temp=_num(temp_c),
                                limit=_num(s.first_check_max_c), deadline=_hm(first_at)), out, temp_c)
        if t >= end_at:
            st = replace(st, window_open=False, warm_since=None)
            if temp_c > s.target_c:
                return _set(st, t, "break", "window_missed",
                            _text(s, "window_missed", temp=_num(temp_c), limit=_num(s.target_c),
                                  deadline=_hm(end_at)), out, temp_c)
            if valid:
                code = "back_cold" if st.state == "break" else "window_ok"
                return _set(st, t, "cold", code, _text(s, code, temp=_num(temp_c)), out, temp_c)
            return st
        if valid and temp_c <= s.target_c:
            st = replace(st, window_open=False, warm_since=None)
            if st.state == "break":
                return _set(st, t, "cold", "back_cold", _text(s, "back_cold", temp=_num(temp_c)),
                            out, temp_c)
            minutes = int((t - added).total_seconds() // 60)
            return _set(st, t, "cold", "target_reached",
                        _text(s, "target_reached", temp=_num(temp_c), minutes=minutes), out, temp_c)
        return st
    # Outside a cooling window.
    if st.broken:
        if valid and temp_c <= s.target_c:
            return _set(st, t, "cold", "back_cold", _text(s, "back_cold", temp=_num(temp_c)),
                        out, temp_c)
        return st
    if temp_c > s.cold_max_c:
        warm_since = st.warm_since or (t if valid else None)
        st = replace(st, warm_since=warm_since)
        # >= : the crossing happened before the first sample seen above the
        # limit, so at this sample it has been warm for more than warm_break_s.
        if warm_since is not None and (t - warm_since).total_seconds() >= s.warm_break_s:
            return _set(st, t, "break", "warm_too_long",
                        _text(s, "warm_too_long", limit=_num(s.cold_max_c), since=_hm(warm_since),
                              minutes=int((t - warm_since).total_seconds() // 60), temp=_num(temp_c)),
                        out, temp_c)
        return st
    if valid:
        st = replace(st, warm_since=None)
        if st.state == "cooling":               # window ended on a held reading: first real one
            st = _set(st, t, "cold", "window_ok", _text(s, "window_ok", temp=_num(temp_c)), out, temp_c)
    return st


# -- prediction ---------------------------------------------------------------
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


def _predict(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    if st.state == "cooling" and st.window_open and "predicted_miss" not in st.warned:
        return _predict_cooling(st, t, s, out)
    if st.state == "cold" and not st.window_open and "compressor_suspect" not in st.warned:
        return _predict_rise(st, t, s, out)
    return st


def _predict_cooling(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    start = max(st.added_at + timedelta(seconds=s.predict_skip_s),
                t - timedelta(seconds=s.predict_window_s))
    pts = [p for p in st.recent if p[0] >= start]
    if len(pts) < s.predict_min_samples or (pts[-1][0] - pts[0][0]).total_seconds() < s.predict_min_span_s:
        return st
    first_at = st.added_at + timedelta(seconds=s.first_check_s)
    end_at = st.added_at + timedelta(seconds=s.cooling_window_s)
    fit = fit_cooling(pts, s.setpoint_c)
    reason, eta = None, None
    if fit is None:
        reason = _text(s, "predicted_never", limit=_num(s.target_c), deadline=_hm(end_at))
    else:
        eta = fit.reaches(s.target_c)
        if t < first_at and fit.temp_at(first_at) > s.first_check_max_c:
            reason = _text(s, "predicted_miss_first", predicted=_num(fit.temp_at(first_at)),
                           deadline=_hm(first_at), limit=_num(s.first_check_max_c))
        elif eta is None:
            reason = _text(s, "predicted_never", limit=_num(s.target_c), deadline=_hm(end_at))
        elif eta > end_at:
            reason = _text(s, "predicted_miss_target", limit=_num(s.target_c), eta=_hm(eta),
                           deadline=_hm(end_at))
    if reason is None:
        return replace(st, miss_streak=0)
    streak = st.miss_streak + 1
    if streak < s.predict_confirm:
        return replace(st, miss_streak=streak)
    out.warnings.append(Warning_(t, st.tank, "predicted_miss", st.state, reason, eta))
    return replace(st, miss_streak=0, warned=st.warned | {"predicted_miss"})


def _predict_rise(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    start = max(st.since or t, t - timedelta(seconds=s.rise_window_s))
    pts = [p for p in st.recent if p[0] >= start]
    if len(pts) < s.predict_min_samples or (pts[-1][0] - pts[0][0]).total_seconds() < s.rise_min_span_s:
        return st
    rate = rise_rate_c_per_h(pts)
    if rate < s.rise_warn_c_per_h:
        return st
    now_c = float(np.mean([v for _, v in pts[-3:]]))
    hours = max(0.0, (s.cold_max_c - now_c) / rate)
    eta = t + timedelta(hours=hours)
    out.warnings.append(Warning_(t, st.tank, "compressor_suspect", st.state,
                                 _text(s, "compressor_suspect", rate=_num(rate),
                                       limit=_num(s.cold_max_c), eta=_hm(eta)), eta))
    return replace(st, warned=st.warned | {"compressor_suspect"})


# -- traces -------------------------------------------------------------------
class TraceError(ValueError):
    """A bad trace file or row, as one line naming file, row and field."""


@dataclass(frozen=True)
class TraceRow:
    row: int                 # line number in the file (the header is 1)
    time: datetime
    time_text: str
    tank: str
    temp_c: float | None
    event: str


def parse_time(text: str) -> datetime:
    """ISO 8601 with a UTC offset; raises ValueError otherwise."""
    value = datetime.fromisoformat(text.strip())
    if value.utcoffset() is None:
        raise ValueError("time without a UTC offset")
    return value


def read_trace(path: str | Path) -> list[TraceRow]:
    """The rows of a TRACE.csv (`time, tank, temp_c, event`), validated."""
    name = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise TraceError(f"{name}: file not found") from None
    except OSError as exc:
        raise TraceError(f"{name}: cannot read: {exc.strerror}") from None
    rows: list[TraceRow] = []
    last: dict[str, datetime] = {}
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            missing = [c for c in ("time", "tank", "temp_c") if c not in header]
            if missing:
                raise TraceError(f"{name}: missing column{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} (need time, tank, temp_c, event)")
            for record in reader:
                n = reader.line_num
                rows.append(_trace_row(name, n, record, last))
        except UnicodeDecodeError:
            raise TraceError(f"{name}: not UTF-8 text") from None
        except csv.Error as exc:
            raise TraceError(f"{name}: row {reader.line_num}: {exc}") from None
    return rows


def _trace_row(name: str, n: int, record: dict, last: dict[str, datetime]) -> TraceRow:
    if None in record:
        raise TraceError(f"{name}: row {n}: more fields than columns")
    where = f"{name}: row {n}"
    time_text = (record.get("time") or "").strip()
    try:
        t = parse_time(time_text)
    except ValueError as exc:
        detail = "without a UTC offset" if "offset" in str(exc) else "not an ISO 8601 time"
        raise TraceError(f"{where}: time: {time_text!r} {detail}") from None
    tank = (record.get("tank") or "").strip()
    if not tank:
        raise TraceError(f"{where}: tank: empty")
    raw = (record.get("temp_c") or "").strip()
    temp_c: float | None = None
    if raw:
        try:
            temp_c = float(raw)
        except ValueError:
            raise TraceError(f"{where}: temp_c: not a number: {raw!r}") from None
        if not math.isfinite(temp_c) or not -40.0 <= temp_c <= 125.0:
            raise TraceError(f"{where}: temp_c: {raw} outside -40..125 °C")
    event = (record.get("event") or "").strip()
    if event not in EVENTS:
        raise TraceError(f"{where}: event: {event!r} is not milk_added, emptied or empty")
    if tank in last and t < last[tank]:
        raise TraceError(f"{where}: time: {time_text} is earlier than the previous row of tank {tank}")
    last[tank] = t
    return TraceRow(n, t, time_text, tank, temp_c, event)


def replay(rows: Iterable[TraceRow], s: ColdchainSettings
           ) -> Iterator[tuple[TraceRow, list[Change], list[Warning_]]]:
    """Run one machine per tank over the rows, in file order."""
    states: dict[str, TankState] = {}
    for row in rows:
        st = states.get(row.tank) or TankState(row.tank)
        st, changes, warnings = step(st, row.time, row.temp_c, row.event, s)
        states[row.tank] = st
        yield row, changes, warnings


# -- the station shell --------------------------------------------------------
_DB_SCHEMA = """
CREATE TABLE IF NOT EXISTS tank_events (
    n      INTEGER PRIMARY KEY AUTOINCREMENT,
    tank   TEXT NOT NULL,
    ts     TEXT NOT NULL,              -- ISO 8601 with offset
    kind   TEXT NOT NULL,              -- sample | milk_added | emptied
    temp_c REAL,                       -- samples: NULL when no valid reading
    note   TEXT                        -- additions: delivery id or 'manual'
);
CREATE INDEX IF NOT EXISTS tank_events_tank ON tank_events (tank, n);
CREATE TABLE IF NOT EXISTS tank_messages (
    n       INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,             -- coldchain/1, to be copied into the outbox
    queued  INTEGER NOT NULL DEFAULT 0
);
"""


class TankMonitor:
    """Runs the machine for the station's tanks, durably.

    Every sample and event is stored (own SQLite file, WAL, FULL) in the same
    transaction as the state changes it caused; the changes are then copied
    to the outbox, so a crash in between re-queues them at the next start.
    On start the state of each tank is rebuilt by replaying its stored
    samples and events since it was last emptied, without publishing again.
    """

    def __init__(self, db_path: str | Path, settings: ColdchainSettings, tanks: Iterable[str], *,
                 outbox, topic: Callable[[], str], envelope: dict,
                 wake: Callable[[], None] = lambda: None,
                 intake_tank: str | None = None, keep_days: float = 14.0,
                 on_break: Callable[[str, bool], None] | None = None) -> None:
        self.settings = settings
        self.outbox = outbox
        self.topic = topic
        self.envelope = envelope
        self.wake = wake
        self.intake_tank = intake_tank
        self.keep_days = keep_days
        self.on_break = on_break
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_DB_SCHEMA)
        self.states = {tank: self._rebuild(tank) for tank in tanks}
        self._flush_messages()

    # -- rebuilding -------------------------------------------------------
    def _rebuild(self, tank: str) -> TankState:
        with self._lock:
            (start,) = self._db.execute(
                "SELECT COALESCE(MAX(n), 0) FROM tank_events WHERE tank = ? AND kind = 'emptied'",
                (tank,)).fetchone()
            rows = self._db.execute(
                "SELECT ts, kind, temp_c FROM tank_events WHERE tank = ? AND n >= ? ORDER BY n",
                (tank, start)).fetchall()
        st = TankState(tank)
        for ts, kind, temp_c in rows:
            event = "" if kind == "sample" else kind
            st, _, _ = step(st, parse_time(ts), temp_c, event, self.settings)
        return st

    def state(self, tank: str) -> str:
        return self.states[tank].state

    # -- inputs -----------------------------------------------------------
    def sample(self, tank: str, t: datetime, temp_c: float | None) -> list[Change]:
        return self._apply(tank, t, "sample", temp_c)

    def milk_added(self, tank: str, t: datetime, note: str = "manual") -> list[Change]:
        """Milk poured into the tank (a delivery, or entered by hand)."""
        return self._apply(tank, t, "milk_added", None, note)

    def emptied(self, tank: str, t: datetime) -> list[Change]:
        """The buyer collected the milk: an operator action."""
        return self._apply(tank, t, "emptied", None, "operator")

    def delivery_recorded(self, payload: dict) -> list[Change]:
        """An accepted delivery is poured into the configured intake tank."""
        if not payload.get("accepted") or not self.intake_tank or self.intake_tank not in self.states:
            return []
        return self.milk_added(self.intake_tank, parse_time(payload["ts"]), payload.get("id", ""))

    def _apply(self, tank: str, t: datetime, kind: str, temp_c: float | None,
               note: str | None = None) -> list[Change]:
        if tank not in self.states:
            raise KeyError(f"unknown tank {tank!r}")
        with self._lock:
            before = self.states[tank]
            if kind == "sample":
                st, changes, warnings = step(before, t, temp_c, "", self.settings)
            else:   # an event alone: the sampler supplies the readings
                st, changes, warnings = self._event_step(before, t, kind)
            messages = [self._message(c.time, tank, c.state, c.reason, c.reason_code, None)
                        for c in changes]
            messages += [self._message(w.time, tank, w.state, w.reason, w.kind, w)
                         for w in warnings]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO tank_events (tank, ts, kind, temp_c, note) VALUES (?, ?, ?, ?, ?)",
                    (tank, t.isoformat(timespec="milliseconds"), kind, temp_c, note))
                self._db.executemany("INSERT INTO tank_messages (payload) VALUES (?)",
                                     [(json.dumps(m, ensure_ascii=False),) for m in messages])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.states[tank] = st
        self._flush_messages()
        if self._pruned_at is None or (t - self._pruned_at).total_seconds() > 3600:
            self._pruned_at = t
            self.prune(t)
        for change in changes:
            log.info("tank %s: %s -> %s (%s)", tank, change.previous, change.state, change.reason)
            if self.on_break and (change.state == "break") != (change.previous == "break"):
                try:
                    self.on_break(tank, change.state == "break")
                except Exception:
                    log.exception("on_break callback failed")
        return changes

    def _event_step(self, st: TankState, t: datetime, event: str):
        return apply_event(st, t, event, self.settings)

    def _message(self, t: datetime, tank: str, state: str, reason: str, code: str,
                 warning: Warning_ | None) -> dict:
        payload = {"schema": "coldchain/1", **self.envelope, "tank": tank,
                   "ts": t.isoformat(timespec="milliseconds"), "state": state, "reason": reason,
                   "reason_code": code}
        if warning is not None:
            payload["warning"] = warning.kind
            payload["eta"] = warning.eta.isoformat(timespec="seconds") if warning.eta else None
        return payload

    def _flush_messages(self) -> None:
        """Copy stored changes into the outbox (at least once: the hub's writes are idempotent)."""
        with self._lock:
            rows = self._db.execute("SELECT n, payload FROM tank_messages WHERE queued = 0 ORDER BY n"
                                    ).fetchall()
            for n, payload in rows:
                self.outbox.enqueue(self.topic(), json.loads(payload))
                self._db.execute("UPDATE tank_messages SET queued = 1 WHERE n = ?", (n,))
        if rows:
            self.wake()

    def prune(self, now: datetime) -> None:
        """Drop samples older than keep_days; events stay (they are few)."""
        cutoff = (now - timedelta(days=self.keep_days)).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute("DELETE FROM tank_events WHERE kind = 'sample' AND ts < ?", (cutoff,))
            self._db.execute("DELETE FROM tank_messages WHERE queued = 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def load_coldchain_settings(path: str | Path | None, language: str | None = None) -> ColdchainSettings:
    """Settings for a replay: a station.toml's `[coldchain]`, or a TOML of coldchain keys.

    A station.toml without a `[coldchain]` section gives the defaults (with
    its language). Raises UserError with the file and key on a bad value.
    """
    from milk_common.config import describe_validation_error, load_toml
    from pydantic import ValidationError

    from collector_station.config import ColdchainConfig
    from collector_station.errors import UserError
    if path is None:
        return ColdchainConfig().settings(language or "es")
    data = load_toml(path)
    station_keys = {"center", "station", "scale", "mqtt", "thermometers", "quality", "language"}
    section = data.get("coldchain")
    if section is None:
        section = {} if station_keys & data.keys() else data
    lang = language or data.get("language") or "es"
    if lang not in REASONS:
        raise UserError(f"{path}: language: {lang!r} is not es or en")
    try:
        return ColdchainConfig.model_validate(section).settings(lang)
    except ValidationError as exc:
        message = describe_validation_error(str(path), exc)
        if "coldchain" in data:
            message = message.replace(f"{path}: ", f"{path}: [coldchain] ", 1)
        raise UserError(message) from None
