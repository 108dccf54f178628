"""Shift summaries (morning/afternoon): pure functions over delivery records."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal, ROUND_HALF_UP
from zoneinfo import ZoneInfo

from milk_common.contract import shift_payload


def _starts(starts: dict[str, str]) -> list[tuple[time, str]]:
    return sorted((time.fromisoformat(v), k) for k, v in starts.items())


def shift_of(ts: datetime, starts: dict[str, str], zone: ZoneInfo) -> tuple[date, str]:
    """(the shift's date, its name) for a delivery time; before the first
    start of the day, the last shift of the previous day is still running."""
    local = ts.astimezone(zone)
    ordered = _starts(starts)
    current = None
    for start, name in ordered:
        if local.time() >= start:
            current = name
    if current is None:
        return local.date() - timedelta(days=1), ordered[-1][1]
    return local.date(), current


def summarize(records: list[dict], *, center: str, station: str, day: date, shift: str,
              ts: str) -> dict:
    """Deliveries, litres, volume-weighted TS, rejections by reason, per producer.

    Voided deliveries and the records that void them are left out; a
    correction counts instead of the delivery it corrects. `ts` is when the
    shift was closed (the shift/1 message's time, which the contract requires).
    """
    superseded = {r.get("refers_to") for r in records if r.get("kind") in ("void", "correction")}
    live = [r for r in records if r.get("kind", "delivery") != "void" and r["id"] not in superseded]
    liters = Decimal(0)
    weighted = Decimal(0)
    rejections: dict[str, int] = {}
    producers: dict[str, dict] = {}
    for r in live:
        row = producers.setdefault(r["producer"], {"deliveries": 0, "rejected": 0, "liters": 0.0})
        row["deliveries"] += 1
        if r["accepted"]:
            v = Decimal(repr(r["liters"]))
            liters += v
            weighted += v * Decimal(repr(r["solids_pct"]))
            row["liters"] = float(Decimal(repr(row["liters"])) + v)
        else:
            row["rejected"] += 1
            rejections[r.get("reject_reason") or "?"] = rejections.get(r.get("reject_reason") or "?", 0) + 1
    avg = None if liters == 0 else float((weighted / liters).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return shift_payload(center, station, day.isoformat(), shift, ts, len(live),
                         sum(rejections.values()), float(liters), avg, rejections,
                         producers=producers)
