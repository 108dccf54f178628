"""Tank traces (`TRACE.csv`: time, tank, temp_c, event) and their replay.

Reading validates every row and names the file, row and field of the first
bad one (`TraceError`); `replay` runs one machine per tank over the rows and
words what it finds, as `collector-station coldchain replay` prints it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from collector_station.coldchain.machine import EVENTS, TankState, step
from collector_station.coldchain.settings import ColdchainSettings
from collector_station.coldchain.texts import WordedChange, WordedWarning, word_change, word_warning


class TraceError(ValueError):
    """A bad trace file or row, as one line naming file, row and field."""


@dataclass(frozen=True)
class TraceRow:
    """One validated row of a trace."""

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
           ) -> Iterator[tuple[TraceRow, list[WordedChange], list[WordedWarning]]]:
    """Run one machine per tank over the rows, in file order; the changes and
    warnings of each row come worded in `s.language`."""
    states: dict[str, TankState] = {}
    for row in rows:
        st = states.get(row.tank) or TankState(row.tank)
        st, changes, warnings = step(st, row.time, row.temp_c, row.event, s)
        states[row.tank] = st
        yield (row, [word_change(c, s.language) for c in changes],
               [word_warning(w, s.language) for w in warnings])
