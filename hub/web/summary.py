"""A period's numbers for the dashboard: per station, per producer, per day (pure).

The totals follow the statement's rules so that the page and
`statements.csv` agree: what counts is decided by the one rule of
`hub.store.deliveries` (`counted`: each delivery once by its id, voids and
the originals they or a correction replace left out), and deliveries count
every delivery that counts, rejected included; litres are the accepted
litres summed exactly and rounded half-up to the cent once.

Exact and lean: a litre value as InfluxDB returns it (a JSON number) is
summed as an integer of millilitres when its decimal form has at most three
decimals (what stations send), and as a Decimal otherwise; no object per
delivery. The average TS is weighted by litres in floating point, for
reading only: the statement averages TS as rounded for pricing, so its
average may differ from this one in the last decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable
from zoneinfo import ZoneInfo

from hub.payments.money import ZERO, round_half_up
from hub.store.deliveries import DuplicateIds, counted


def milliliters(value) -> int | None:
    """`24.615` -> 24615 exactly (from its shortest decimal form); None when the value
    has more than three decimals and must be summed as a Decimal."""
    if isinstance(value, Decimal):
        scaled = value * 1000
        return int(scaled) if scaled == scaled.to_integral_value() else None
    text = repr(value)
    if "e" in text or "n" in text:          # 1e-05, inf, nan
        return None
    whole, _, decimals = text.partition(".")
    if len(decimals) > 3:
        return None
    return int(whole + decimals.ljust(3, "0"))


@dataclass
class Tally:
    """Running sums of one group of deliveries."""

    deliveries: int = 0
    rejected: int = 0
    liters_milli: int = 0              # accepted litres with <= 3 decimals, in mL (exact)
    liters_rest: Decimal = ZERO        # accepted litres with more decimals (exact)
    solids_liters: float = 0.0         # Σ litres × TS over accepted deliveries with a TS
    solids_weight: float = 0.0         # Σ litres of those

    def add(self, liters, solids_pct, accepted: bool, milli: int | None) -> None:
        self.deliveries += 1
        if not accepted:
            self.rejected += 1
            return
        if milli is not None:
            self.liters_milli += milli
        else:
            self.liters_rest += liters if isinstance(liters, Decimal) else Decimal(repr(liters))
        if solids_pct is not None:
            self.solids_liters += float(liters) * float(solids_pct)
            self.solids_weight += float(liters)

    @property
    def liters_exact(self) -> Decimal:
        return Decimal(self.liters_milli).scaleb(-3) + self.liters_rest

    @property
    def liters(self) -> Decimal:
        return round_half_up(self.liters_exact)

    @property
    def avg_solids_pct(self) -> Decimal | None:
        if self.solids_weight <= 0:
            return None
        return Decimal(f"{self.solids_liters / self.solids_weight:.2f}")


@dataclass
class PeriodSummary:
    total: Tally = field(default_factory=Tally)
    by_station: dict[str, Tally] = field(default_factory=dict)      # "center.station"
    by_producer: dict[str, Tally] = field(default_factory=dict)
    by_day: dict[date, Tally] = field(default_factory=dict)         # local calendar day
    today_by_station: dict[str, Tally] = field(default_factory=dict)
    today_by_producer: dict[str, Tally] = field(default_factory=dict)
    today: Tally = field(default_factory=Tally)
    duplicates: DuplicateIds = field(default_factory=DuplicateIds)   # points not counted: their id was read


def station_key(center: str | None, station: str | None) -> str:
    return f"{center or '-'}.{station or '-'}"


class _LocalDays:
    """Epoch nanoseconds -> local calendar day, one zone lookup per hour seen."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._by_hour: dict[int, date] = {}

    def __call__(self, ns: int) -> date:
        hour = ns // 3_600_000_000_000
        day = self._by_hour.get(hour)
        if day is None:
            # An hour that straddles local midnight (zones with a :30 or :45
            # offset) is not cached: each of its samples is placed on its own.
            day = datetime.fromtimestamp(hour * 3600, timezone.utc).astimezone(self.tz).date()
            if datetime.fromtimestamp(hour * 3600 + 3599, timezone.utc).astimezone(self.tz).date() != day:
                return datetime.fromtimestamp(ns / 1e9, timezone.utc).astimezone(self.tz).date()
            self._by_hour[hour] = day
        return day


def summarize_rows(rows: Iterable[dict], tz: ZoneInfo, today: date,
                   superseded: frozenset[str] | set[str] = frozenset()) -> PeriodSummary:
    """Tally InfluxDB `delivery` rows of one period in time order (time in ns; `liters`,
    `solids_pct`, `accepted`, `kind`, `id`, `center`, `station`, `producer`) by
    station, producer and local day; `today`'s also separately. What counts is what
    the statement counts (`hub.store.deliveries.counted`, with `superseded`: the ids
    voided or corrected); the points left out for their id are in `duplicates`."""
    s = PeriodSummary()
    day_of = _LocalDays(tz)
    by_station, by_producer, by_day = s.by_station, s.by_producer, s.by_day
    for row in counted(rows, superseded, s.duplicates):
        liters, solids, accepted = row["liters"], row.get("solids_pct"), bool(row["accepted"])
        milli = milliliters(liters) if accepted else 0
        day = day_of(row["time"])
        where = station_key(row.get("center"), row.get("station"))
        producer = row["producer"]
        for tally in (s.total, by_station.get(where) or by_station.setdefault(where, Tally()),
                      by_producer.get(producer) or by_producer.setdefault(producer, Tally()),
                      by_day.get(day) or by_day.setdefault(day, Tally())):
            tally.add(liters, solids, accepted, milli)
        if day == today:
            for tally in (s.today, s.today_by_station.setdefault(where, Tally()),
                          s.today_by_producer.setdefault(producer, Tally())):
                tally.add(liters, solids, accepted, milli)
    return s


def day_series(summary: PeriodSummary, days: list[date]) -> list[tuple[date, Decimal, Decimal | None]]:
    """(day, accepted litres, average TS) for every day of the period, zeros where none."""
    out = []
    for day in days:
        tally = summary.by_day.get(day, Tally())
        out.append((day, tally.liters, tally.avg_solids_pct))
    return out


def format_2dp(value: Decimal | None) -> str:
    """Two decimals with `.` as the mark (as statements.csv); `-` for none."""
    return "-" if value is None else f"{round_half_up(value):f}"
