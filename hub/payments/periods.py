"""Fortnightly payment periods (quincenas) in the association's local time.

Period ``YYYY-MM-1`` runs from day 1 00:00 up to day 16 00:00 local time and
``YYYY-MM-2`` from day 16 00:00 up to the 1st of the next month 00:00. A
delivery belongs to the period of its *local* date: 23:59 on the 15th in Lima
is already the 16th in UTC but is still paid in ``-1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.payments.errors import PaymentsError, Text

_PERIOD_TEXT = re.compile(r"(\d{4})-(\d{2})-([12])")
SECOND_HALF_FIRST_DAY = 16


@dataclass(frozen=True, order=True)
class Period:
    """One fortnight: ``half`` 1 is days 1–15, ``half`` 2 is day 16 to month end."""

    year: int
    month: int
    half: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")
        if self.half not in (1, 2):
            raise ValueError(f"half must be 1 or 2, not {self.half}")
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year out of range: {self.year}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read ``"2026-11-1"`` or ``"2026-11-2"``; PaymentsError on anything else."""
        match = _PERIOD_TEXT.fullmatch(text.strip())
        if match:
            year, month, half = (int(group) for group in match.groups())
            if 1 <= month <= 12 and 1 <= year <= 9998:
                return cls(year, month, half)
        raise PaymentsError(Text("bad_period", value=repr(text)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.half}"

    def first_day(self) -> date:
        """The first local calendar day of the period."""
        return date(self.year, self.month, 1 if self.half == 1 else SECOND_HALF_FIRST_DAY)

    def last_day(self) -> date:
        """The last local calendar day of the period (15th, or the month's last day)."""
        return self.next().first_day() - timedelta(days=1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """``(start, end)`` as aware datetimes in ``tz``: start included, end excluded."""
        start, end = self.first_day(), self.next().first_day()
        return (
            datetime(start.year, start.month, start.day, tzinfo=tz),
            datetime(end.year, end.month, end.day, tzinfo=tz),
        )

    def next(self) -> Period:
        """The following fortnight (``2026-12-2`` -> ``2027-01-1``)."""
        if self.half == 1:
            return Period(self.year, self.month, 2)
        if self.month == 12:
            return Period(self.year + 1, 1, 1)
        return Period(self.year, self.month + 1, 1)

    def previous(self) -> Period:
        """The preceding fortnight (``2027-01-1`` -> ``2026-12-2``)."""
        if self.half == 2:
            return Period(self.year, self.month, 1)
        if self.month == 1:
            return Period(self.year - 1, 12, 2)
        return Period(self.year, self.month - 1, 2)

    def contains(self, ts: datetime, tz: ZoneInfo) -> bool:
        """Whether the instant ``ts`` (aware) falls in this period in time zone ``tz``."""
        return period_of(ts, tz) == self


def period_of(ts: datetime, tz: ZoneInfo) -> Period:
    """The period whose local dates in ``tz`` contain the instant ``ts`` (aware)."""
    if ts.utcoffset() is None:
        # A naive time would silently be read as the server's own zone.
        raise ValueError(f"timestamp without UTC offset: {ts.isoformat()}")
    local = ts.astimezone(tz)
    return Period(local.year, local.month, 1 if local.day < SECOND_HALF_FIRST_DAY else 2)
