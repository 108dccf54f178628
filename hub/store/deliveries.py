"""Reading deliveries back from InfluxDB, and the one rule of what counts in a period.

What counts, for the statements, the export, the dashboard and a producer's
history alike, is written here once (`first_points`, `counted`; the columnar
read in `hub.store.columns` applies the same rule to columns):

- A delivery counts once, by its id. Points are placed at their sealed
  time, so the first point of an id by time is the delivery; a later point
  with an id already read (the same delivery stored again, or another record
  under a reused id) never adds to a count, a sum or a payment. It is left
  out and reported (`DuplicateIds`), so that someone looks at it.
- A void pays nothing; a voided or corrected delivery gives way to the
  record that amends it (the correction is paid in its own period).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.payments.periods import Period
from hub.payments.records import Delivery
from hub.store.influx import InfluxV1, from_ns, quote, rfc3339


def _dec(value: object) -> Decimal | None:
    if value is None:
        return None
    # InfluxDB returns JSON numbers; repr keeps what the station sent (24.615).
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


# -- the rule -------------------------------------------------------------------

@dataclass
class DuplicateIds:
    """Points left out because an earlier point has their id: {id: how many left out}."""

    extra: dict[str, int] = field(default_factory=dict)

    def add(self, ident: str, points: int = 1) -> None:
        self.extra[ident] = self.extra.get(ident, 0) + points

    @property
    def points(self) -> int:
        return sum(self.extra.values())

    def __len__(self) -> int:
        return len(self.extra)

    def listed(self, shown: int = 10) -> str:
        """The first `shown` ids, and how many more."""
        ids = sorted(self.extra)
        more = len(ids) - shown
        return ", ".join(ids[:shown]) + (f" (+{more})" if more > 0 else "")

    def words(self, where: str, lang: str) -> str:
        from milk_common.i18n import translate
        return translate("hub", "duplicate_ids", lang, where=where, points=self.points, ids=self.listed())

    def warn(self, where: str, file=None) -> None:
        """One line on standard error (in the command's language) when any point was left out."""
        if self.extra:
            from milk_common.i18n import process_language
            print(self.words(where, process_language()), file=file or sys.stderr, flush=True)


def first_points(rows: Iterable[dict], duplicates: DuplicateIds | None = None) -> Iterator[dict]:
    """Rows in time order, each id's first point only: the later ones go to `duplicates`.
    A row without an id (none should be) is never taken for another's duplicate."""
    seen: set[str] = set()
    add = seen.add
    for row in rows:
        ident = row.get("id")
        if ident is not None:
            if ident in seen:
                if duplicates is not None:
                    duplicates.add(ident)
                continue
            add(ident)
        yield row


def counted(rows: Iterable[dict], superseded: frozenset[str] | set[str] = frozenset(),
            duplicates: DuplicateIds | None = None) -> Iterator[dict]:
    """The rows of a period that count (the module's rule), in time order: each id's
    first point, voids left out, and a delivery in `superseded` (voided or corrected:
    `amended_ids`) giving way to the record that amends it."""
    for row in first_points(rows, duplicates):
        if row.get("kind") == "void" or row.get("id") in superseded:
            continue
        yield row


def amended_ids(influx: InfluxV1, since: datetime, chunk_size: int = 10000) -> set[str]:
    """Ids of deliveries voided or corrected by a record at or after `since`."""
    q = ("SELECT refers_to, kind FROM delivery WHERE (kind = 'void' OR kind = 'correction') "
         f"AND time >= '{rfc3339(since)}'")
    return {row["refers_to"] for row in influx.query(q, chunk_size=chunk_size) if row.get("refers_to")}


# -- a period's deliveries: payments and export --------------------------------

DELIVERY_FIELDS = ("id, liters, solids_pct, accepted, milk_temp_c, weight_kg, fat_pct, "
                   "reject_reason, receipt_code, kind, center, station, producer")


def _period_where(period: Period, tz: ZoneInfo) -> str:
    start, end = period.bounds(tz)
    return f"time >= '{rfc3339(start)}' AND time < '{rfc3339(end)}'"


def _delivery(row: dict, tz: ZoneInfo) -> Delivery:
    return Delivery(
        id=row["id"], producer=row["producer"], ts=from_ns(row["time"], tz), liters=_dec(row["liters"]),
        solids_pct=_dec(row.get("solids_pct")), accepted=bool(row["accepted"]),
        milk_temp_c=_dec(row.get("milk_temp_c")), center=row.get("center"),
        station=row.get("station"), weight_kg=_dec(row.get("weight_kg")),
        fat_pct=_dec(row.get("fat_pct")), reject_reason=row.get("reject_reason"),
        receipt_code=row.get("receipt_code"))


def period_deliveries(influx: InfluxV1, period: Period, tz: ZoneInfo, chunk_size: int = 10000,
                      progress: bool = False, duplicates: DuplicateIds | None = None) -> Iterator[Delivery]:
    """The period's deliveries that count, in time order, read in chunks (InfluxDB's chunked
    responses: one JSON object per ``chunk_size`` points, memory stays flat).
    ``progress`` prints a count on standard error every 100,000 points. Points left out
    for their id go to ``duplicates``; without one, a line on standard error names them."""
    start, _ = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    q = f"SELECT {DELIVERY_FIELDS} FROM delivery WHERE {_period_where(period, tz)}"
    found = DuplicateIds() if duplicates is None else duplicates
    count = 0

    def read() -> Iterator[dict]:
        nonlocal count
        for row in influx.query(q, chunk_size=chunk_size):
            count += 1
            if progress and count % 100_000 == 0:
                print(f"\r{period}: {count:,} deliveries read", end="", file=sys.stderr, flush=True)
            yield row

    for row in counted(read(), superseded, found):
        yield _delivery(row, tz)
    if progress and count >= 100_000:
        print(f"\r{period}: {count:,} deliveries read", file=sys.stderr, flush=True)
    if duplicates is None:
        found.warn(str(period))


SEAL_FIELDS = ("id, seq, kind, refers_to, weight_kg, liters, solids_pct, fat_pct, milk_temp_c, "
               "accepted, reject_reason, prev_hash, hash, hmac, center, station, producer")


def period_delivery_rows(influx: InfluxV1, period: Period, tz: ZoneInfo,
                         chunk_size: int = 10000) -> Iterator[dict]:
    """Every raw delivery point of a period with every sealed field, seal/2's epoch and
    operator included, and the seal's version (for `verify`, which must see the points
    the rule leaves out: a duplicate id is one of its findings)."""
    # epoch: a reinstalled station counts seq from 1 again (docs/recovery.md).
    q = (f'SELECT {SEAL_FIELDS}, epoch, "operator", "seal" FROM delivery '
         f"WHERE {_period_where(period, tz)}")
    yield from influx.query(q, chunk_size=chunk_size)


# -- the dashboard's tally -------------------------------------------------------

def period_rows(influx: InfluxV1, period: Period, tz: ZoneInfo, chunk_size: int = 10000):
    """(the period's delivery points with the fields the dashboard tallies, the ids that
    voids or corrections replace): what `hub.web.summary.summarize_rows` takes and counts
    by `counted`. The points `period_deliveries` reads, fewer fields."""
    start, _ = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    # Every void refers to a delivery, so with none amended since the period began
    # there is no void in it either: kinds stay home. Ids never do: they count once.
    fields = "id, kind" if superseded else "id"
    q = (f"SELECT {fields}, liters, solids_pct, accepted, center, station, producer FROM delivery "
         f"WHERE {_period_where(period, tz)}")
    return influx.query(q, chunk_size=chunk_size), superseded


# -- one producer: history and a statement of an open period --------------------

_IDS_PER_QUERY = 200     # an id condition per id: keeps each query's text short


def producer_period_deliveries(influx: InfluxV1, code: str, period: Period, tz: ZoneInfo,
                               chunk_size: int = 10000,
                               duplicates: DuplicateIds | None = None) -> list[Delivery]:
    """`code`'s deliveries of `period` that count, exactly those `period_deliveries` gives
    for them, without reading the other producers' points: whether an id of theirs was
    first read under another producer is asked of InfluxDB for those ids only."""
    start, _ = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    where = _period_where(period, tz)
    rows = list(influx.query(f"SELECT {DELIVERY_FIELDS} FROM delivery WHERE producer = '{quote(code)}' "
                             f"AND {where}", chunk_size=chunk_size))
    ids = sorted({row["id"] for row in rows if row.get("id") is not None})
    others = []
    for i in range(0, len(ids), _IDS_PER_QUERY):
        wanted = " OR ".join(f"id = '{quote(ident)}'" for ident in ids[i:i + _IDS_PER_QUERY])
        others += influx.query(f"SELECT id, producer FROM delivery WHERE producer != '{quote(code)}' "
                               f"AND {where} AND ({wanted})", chunk_size=chunk_size)
    if others:      # the rule reads all points of these ids in time order, as the whole period's read
        rows = sorted(rows + others, key=lambda row: row["time"])
    found = DuplicateIds() if duplicates is None else duplicates
    out = [_delivery(row, tz) for row in counted(rows, superseded, found) if row.get("producer") == code]
    if duplicates is None:
        found.warn(f"{period} {code}")
    return out


def producer_period_totals(influx: InfluxV1, code: str, period: Period, tz: ZoneInfo,
                           chunk_size: int = 10000) -> tuple[int, Decimal]:
    """(deliveries, accepted litres) of `code` in `period`, counted as the statement counts them."""
    deliveries = producer_period_deliveries(influx, code, period, tz, chunk_size)
    return len(deliveries), sum((d.liters for d in deliveries if d.accepted), Decimal(0))


# -- receipts --------------------------------------------------------------------

def receipt_points(influx: InfluxV1, receipt_code: str) -> list[dict]:
    """The delivery points whose receipt code is `receipt_code` (already normalized:
    `hub.receipts.normalize_receipt_code`), each id's first point, earliest first.

    `receipt_code` is a field, so InfluxDB scans the delivery points; a code is only
    ever typed by a person, which keeps that rare."""
    rows = list(influx.query("SELECT id, liters, solids_pct, accepted, kind FROM delivery "
                             f"WHERE receipt_code = '{quote(receipt_code)}'"))
    rows.sort(key=lambda r: r["time"])
    return list(first_points(rows))


def is_voided(influx: InfluxV1, delivery_id: str) -> bool:
    """Whether a void record refers to the delivery `delivery_id`."""
    return any(True for _ in influx.query("SELECT id FROM delivery WHERE kind = 'void' AND "
                                          f"refers_to = '{quote(delivery_id)}'"))
