"""The tank cold chain as a pure state machine over plain data.

Rules (docs/quality.md, every threshold in `ColdchainSettings`):

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

The machine words nothing: a change or warning carries a `reason_code` and
the values (temperatures, limits, times) that `texts` turns into a sentence
at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from milk_common.contract.codes import COLDCHAIN_STATES

from collector_station.coldchain.prediction import cooling_outlook, cooling_samples, rise_outlook
from collector_station.coldchain.settings import ColdchainSettings

STATES = COLDCHAIN_STATES          # empty, cooling, cold, break, sensor_fault
EVENTS = ("", "milk_added", "emptied")


# -- plain data ---------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A state change: `reason_code` says why, `values` hold what words it
    (°C as floats, times as datetimes, durations as ints)."""

    time: datetime
    tank: str
    state: str
    previous: str
    reason_code: str
    temp_c: float | None = None
    values: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Warning_:
    """An early warning (prediction); the state does not change.

    `kind` is what the hub alerts on (`predicted_miss` | `compressor_suspect`);
    `reason_code` is the finding that words it (`predicted_miss_first`,
    `predicted_miss_target`, `predicted_never`, `compressor_suspect`).
    """

    time: datetime
    tank: str
    kind: str
    state: str           # the tank's state when it was given
    reason_code: str
    values: dict = field(default_factory=dict, hash=False)
    eta: datetime | None = None


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


def _set(st: TankState, t: datetime, new: str, code: str, out: _Out,
         temp_c: float | None = None, **values: object) -> TankState:
    """Enter `new`; a change is emitted only when the state really changes."""
    if new == st.state:
        return st
    out.changes.append(Change(t, st.tank, new, st.state, code, temp_c, values))
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
        st = _set(st, t, "empty", "emptied", out)
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
        st = _set(st, t, "cooling", "milk_added", out, at=t, first_max=s.first_check_max_c,
                  first=t + timedelta(seconds=s.first_check_s), target=s.target_c,
                  end=t + timedelta(seconds=s.cooling_window_s))
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
            return _set(st, t, "sensor_fault", "sensor_silent", out,
                        since=silent_since, seconds=int(silent_s))
        held = _held(st, t, s)
        return st if held is None else _checks(st, t, held, False, s, out)
    st = _checks(st, t, temp_c, True, s, out)
    if st.state == "sensor_fault":              # no rule moved it: recovery by what we know now
        # One code for the three ways back; the new state tells them apart.
        if st.broken:
            st = _set(st, t, "break", "sensor_back", out, temp_c, temp=temp_c, limit=s.target_c)
        elif st.window_open:
            st = _set(st, t, "cooling", "sensor_back", out, temp_c, temp=temp_c)
        else:
            st = _set(st, t, "cold", "sensor_back", out, temp_c, temp=temp_c)
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
                st = _set(st, t, "break", "blend_too_warm", out, temp_c,
                          temp=temp_c, limit=s.blend_max_c)
        first_at = added + timedelta(seconds=s.first_check_s)
        end_at = added + timedelta(seconds=s.cooling_window_s)
        if not st.first_check_done and t >= first_at:
            st = replace(st, first_check_done=True)
            if temp_c > s.first_check_max_c:
                st = _set(st, t, "break", "first_check_missed", out, temp_c,
                          temp=temp_c, limit=s.first_check_max_c, deadline=first_at)
        if t >= end_at:
            st = replace(st, window_open=False, warm_since=None)
            if temp_c > s.target_c:
                return _set(st, t, "break", "window_missed", out, temp_c,
                            temp=temp_c, limit=s.target_c, deadline=end_at)
            if valid:
                code = "back_cold" if st.state == "break" else "window_ok"
                return _set(st, t, "cold", code, out, temp_c, temp=temp_c)
            return st
        if valid and temp_c <= s.target_c:
            st = replace(st, window_open=False, warm_since=None)
            if st.state == "break":
                return _set(st, t, "cold", "back_cold", out, temp_c, temp=temp_c)
            minutes = int((t - added).total_seconds() // 60)
            return _set(st, t, "cold", "target_reached", out, temp_c, temp=temp_c, minutes=minutes)
        return st
    # Outside a cooling window.
    if st.broken:
        if valid and temp_c <= s.target_c:
            return _set(st, t, "cold", "back_cold", out, temp_c, temp=temp_c)
        return st
    if temp_c > s.cold_max_c:
        warm_since = st.warm_since or (t if valid else None)
        st = replace(st, warm_since=warm_since)
        # >= : the crossing happened before the first sample seen above the
        # limit, so at this sample it has been warm for more than warm_break_s.
        if warm_since is not None and (t - warm_since).total_seconds() >= s.warm_break_s:
            return _set(st, t, "break", "warm_too_long", out, temp_c,
                        limit=s.cold_max_c, since=warm_since,
                        minutes=int((t - warm_since).total_seconds() // 60), temp=temp_c)
        return st
    if valid:
        st = replace(st, warm_since=None)
        if st.state == "cooling":               # window ended on a held reading: first real one
            st = _set(st, t, "cold", "window_ok", out, temp_c, temp=temp_c)
    return st


# -- early warnings -----------------------------------------------------------
def _predict(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    if st.state == "cooling" and st.window_open and "predicted_miss" not in st.warned:
        return _predict_cooling(st, t, s, out)
    if st.state == "cold" and not st.window_open and "compressor_suspect" not in st.warned:
        return _predict_rise(st, t, s, out)
    return st


def _predict_cooling(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    pts = cooling_samples(st.recent, st.added_at, t, s)
    if pts is None:
        return st
    finding = cooling_outlook(pts, st.added_at, t, s)
    if finding is None:
        return replace(st, miss_streak=0)
    # One projection can be thrown by a noisy sample: warn when it persists.
    streak = st.miss_streak + 1
    if streak < s.predict_confirm:
        return replace(st, miss_streak=streak)
    out.warnings.append(Warning_(t, st.tank, "predicted_miss", st.state, finding.reason_code,
                                 finding.values, finding.eta))
    return replace(st, miss_streak=0, warned=st.warned | {"predicted_miss"})


def _predict_rise(st: TankState, t: datetime, s: ColdchainSettings, out: _Out) -> TankState:
    finding = rise_outlook(st.recent, st.since or t, t, s)
    if finding is None:
        return st
    out.warnings.append(Warning_(t, st.tank, "compressor_suspect", st.state, finding.reason_code,
                                 finding.values, finding.eta))
    return replace(st, warned=st.warned | {"compressor_suspect"})
