"""One producer's deliveries of a period, counted from InfluxDB (for `milk-hub producer`)."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.payments.periods import Period
from hub.store.deliveries import _rfc3339, amended_ids
from hub.store.influx import InfluxV1


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def producer_period_totals(influx: InfluxV1, code: str, period: Period, tz: ZoneInfo,
                           chunk_size: int = 10000) -> tuple[int, Decimal]:
    """(deliveries, accepted litres) of `code` in `period`, counted as the statement
    counts them: voids left out, a voided or corrected delivery replaced by its amendment."""
    start, end = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    q = (f"SELECT id, liters, accepted, kind FROM delivery WHERE producer = '{_quote(code)}' "
         f"AND time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'")
    count, liters = 0, Decimal(0)
    for row in influx.query(q, chunk_size=chunk_size):
        if row.get("kind") == "void" or row["id"] in superseded:
            continue
        count += 1
        if row.get("accepted"):
            value = row.get("liters")
            liters += Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value or 0))
    return count, liters
