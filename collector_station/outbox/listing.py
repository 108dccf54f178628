"""`collector-station deliveries`: the recorded deliveries, read back.

`recorded_texts` reads the station database read-only (a running station
keeps writing; WAL lets both be) and returns each record's text exactly as
it was published (`delivery/1`, the bytes of the outbox message).
`table_lines` is pure: records in, the operator's table out, in the
station's language.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from collector_station.i18n import reason_text, text


def recorded_texts(path: str | Path, last: int | None = None) -> list[str]:
    """The stored delivery/1 texts in sequence order (newest last); the last
    `last` of them when given. Raises FileNotFoundError when there is no
    database."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        if last is None:
            rows = db.execute("SELECT record FROM deliveries ORDER BY seq").fetchall()
        else:
            rows = db.execute("SELECT record FROM deliveries ORDER BY seq DESC LIMIT ?",
                              (last,)).fetchall()[::-1]
    except sqlite3.OperationalError:     # a database with no deliveries table yet
        return []
    finally:
        db.close()
    return [row[0] for row in rows]


def _state(record: dict, lang: str, seq_of: Callable[[str], int | None]) -> str:
    kind = record.get("kind", "delivery")
    if kind in ("void", "correction"):
        seq = seq_of(record.get("refers_to") or "")
        return text(lang, f"deliveries.{kind}", seq=seq if seq is not None else "?")
    if record.get("accepted"):
        return text(lang, "deliveries.accepted")
    return text(lang, "deliveries.rejected", reason=reason_text(lang, record.get("reject_reason")))


def _num(value, places: int) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def table_lines(records: list[dict], lang: str, names: Callable[[str], str] = lambda code: "",
                seq_of: Callable[[str], int | None] | None = None) -> list[str]:
    """One line per record under a header; `names` gives a producer's name,
    `seq_of` the sequence number of a record id (voids and corrections name
    the delivery they refer to by its number, never by its internal id)."""
    if not records:
        return [text(lang, "deliveries.none")]
    by_id = {r["id"]: r["seq"] for r in records}
    seq_of = seq_of or by_id.get
    cols = ("seq", "ts", "producer", "kg", "liters", "solids", "code", "state")
    header = {c: text(lang, f"deliveries.col_{c}") for c in cols}
    rows = []
    for r in records:
        name = names(r["producer"]) or ""
        rows.append({
            "seq": str(r["seq"]),
            "ts": datetime.fromisoformat(r["ts"]).strftime("%Y-%m-%d %H:%M"),
            "producer": f"{r['producer']} {name}".strip(),
            "kg": _num(r.get("weight_kg"), 2),
            "liters": _num(r.get("liters"), 2),
            "solids": _num(r.get("solids_pct"), 2),
            "code": r.get("receipt_code") or "-",
            "state": _state(r, lang, seq_of),
        })
    width = {c: max(len(header[c]), *(len(row[c]) for row in rows)) for c in cols}
    right = {"seq", "kg", "liters", "solids"}

    def line(row: dict) -> str:
        cells = [row[c].rjust(width[c]) if c in right else row[c].ljust(width[c]) for c in cols]
        return "  ".join(cells).rstrip()

    return [line(header)] + [line(row) for row in rows]
