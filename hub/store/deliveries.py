"""Reading deliveries back from InfluxDB for a period (payments, export)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterator
from zoneinfo import ZoneInfo

from hub.store.influx import InfluxV1
from hub.payments.periods import Period
from hub.payments.records import Delivery


def _dec(value: object) -> Decimal | None:
    if value is None:
        return None
    # InfluxDB returns JSON numbers; repr keeps what the station sent (24.615).
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def period_deliveries(influx: InfluxV1, period: Period, tz: ZoneInfo,
                      chunk_size: int = 10000, progress: bool = False) -> Iterator[Delivery]:
    """The period's deliveries, in time order, read in chunks (InfluxDB's chunked
    responses: one JSON object per ``chunk_size`` points, memory stays flat).
    ``progress`` prints a count on standard error every 100,000 points."""
    start, end = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    q = ("SELECT id, liters, solids_pct, accepted, milk_temp_c, weight_kg, fat_pct, "
         "reject_reason, receipt_code, kind, center, station, producer FROM delivery "
         f"WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'")
    count = 0
    for row in influx.query(q, chunk_size=chunk_size):
        count += 1
        # A void pays nothing; a voided or corrected delivery gives way to
        # the record that amends it (the correction is paid in its own period).
        if row.get("kind") == "void" or row["id"] in superseded:
            continue
        if progress and count % 100_000 == 0:
            print(f"\r{period}: {count:,} deliveries read", end="", file=sys.stderr, flush=True)
        ns = row["time"]
        ts = datetime.fromtimestamp(ns // 1_000_000_000, tz).replace(
            microsecond=(ns % 1_000_000_000) // 1000)
        yield Delivery(
            id=row["id"], producer=row["producer"], ts=ts, liters=_dec(row["liters"]),
            solids_pct=_dec(row.get("solids_pct")), accepted=bool(row["accepted"]),
            milk_temp_c=_dec(row.get("milk_temp_c")), center=row.get("center"),
            station=row.get("station"), weight_kg=_dec(row.get("weight_kg")),
            fat_pct=_dec(row.get("fat_pct")), reject_reason=row.get("reject_reason"),
            receipt_code=row.get("receipt_code"))
    if progress and count >= 100_000:
        print(f"\r{period}: {count:,} deliveries read", file=sys.stderr, flush=True)


def amended_ids(influx: InfluxV1, since: datetime, chunk_size: int = 10000) -> set[str]:
    """Ids of deliveries voided or corrected by a record at or after `since`."""
    q = ("SELECT refers_to, kind FROM delivery WHERE (kind = 'void' OR kind = 'correction') "
         f"AND time >= '{_rfc3339(since)}'")
    return {row["refers_to"] for row in influx.query(q, chunk_size=chunk_size) if row.get("refers_to")}


SEAL_FIELDS = ("id, seq, kind, refers_to, weight_kg, liters, solids_pct, fat_pct, milk_temp_c, "
               "accepted, reject_reason, prev_hash, hash, hmac, center, station, producer")


def period_delivery_rows(influx: InfluxV1, period: Period, tz: ZoneInfo,
                         chunk_size: int = 10000) -> Iterator[dict]:
    """Raw delivery points of a period with every sealed field, seal/2's
    epoch and operator included, and the seal's version (for `verify`)."""
    start, end = period.bounds(tz)
    # epoch: a reinstalled station counts seq from 1 again (docs/recovery.md).
    q = (f'SELECT {SEAL_FIELDS}, epoch, "operator", "seal" FROM delivery '
         f"WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'")
    yield from influx.query(q, chunk_size=chunk_size)
