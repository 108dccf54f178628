"""Deliveries whose stamp cannot be right: stored, but flagged (docs/clock.md).

A station refuses to record while its clock is untrusted, but a clock can
still be wrong in ways the station cannot see (set by hand, an RTC drifting
for months). The hub compares each delivery's `ts` with the time it arrived:

- stamped in the future by more than `[clock] future_tolerance_s` (5 min by
  default; a little clock skew is normal): the station's clock runs ahead.
- stamped more than `[clock] late_after_days` before it arrived (30 days by
  default): a station offline for days delivers late, which is normal, but
  a month means a wrong clock or a record that belongs to a closed fortnight.

Either way the delivery is stored (refusing it would lose milk that was
really delivered) and flagged: an integrity finding (log, alert) and a
`delivery_clock` point beside it. Pure: the arrival time is passed in.
"""

from __future__ import annotations

from datetime import datetime

from hub.ingest.integrity import Finding
from hub.store.influx import line, to_ns


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"


def stamp_findings(center: str, station: str, seq: int | None, ident: str | None,
                   ts: datetime, arrived: datetime, future_tolerance_s: float,
                   late_after_days: float) -> list[Finding]:
    """Findings about one delivery's stamp (at most one)."""
    skew_s = (ts - arrived).total_seconds()     # > 0: stamped after it arrived
    where = dict(center=center, station=station, seq=seq, id=ident)
    if skew_s > future_tolerance_s:
        return [Finding(**where, problem="clock_future",
                        detail=f"stamped {_span(skew_s)} after it arrived: the station's clock runs ahead")]
    if -skew_s > late_after_days * 86400:
        return [Finding(**where, problem="clock_late",
                        detail=f"arrived {_span(skew_s)} after its stamp: a wrong clock, or a closed fortnight")]
    return []


def flag_lines(findings: list[Finding], ts: datetime, arrived: datetime) -> list[str]:
    """The `delivery_clock` points of the findings, at the delivery's own
    time (a re-sent delivery overwrites its flag instead of adding one)."""
    return [line("delivery_clock", {"center": f.center, "station": f.station}, {
        "id": f.id, "seq": f.seq, "problem": f.problem,
        "skew_s": round((ts - arrived).total_seconds(), 3),
        "arrived": arrived.isoformat(timespec="seconds")}, to_ns(ts)) for f in findings]
