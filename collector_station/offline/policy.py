"""When the station sends an offline SMS, and what it says (pure).

One SMS per break and number: a break is known by its tank and the time it
began, so the same break is never texted twice (not every minute, not
after a restart: the notifier keeps what was sent), while a new break of
the same tank is. A failed send is tried again after `retry_s`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from milk_common.i18n import translate


@dataclass(frozen=True)
class TankBreak:
    """A tank in `break` now: since when, and its last valid temperature."""

    tank: str
    since: datetime
    temp_c: float | None

    @property
    def key(self) -> str:
        return f"{self.tank}@{self.since.isoformat()}"


def breaks_of(states: Mapping[str, object]) -> list[TankBreak]:
    """The tanks in break, from the cold-chain machine's TankStates."""
    return [TankBreak(tank, st.since, st.last_temp_c) for tank, st in sorted(states.items())
            if st.state == "break" and st.since is not None]


def sms_due(unreachable_for_s: float, after_s: float, breaks: Iterable[TankBreak],
            numbers: Iterable[str], sent: set[str], failed_at: Mapping[str, float],
            now_s: float, retry_s: float) -> list[tuple[TankBreak, str]]:
    """(break, number) pairs to text now.

    Due when the hub has been unreachable at least `after_s`, for each tank
    in break and each number not yet texted for that break; a pair whose
    last attempt failed waits `retry_s` (monotonic seconds)."""
    if unreachable_for_s < after_s:
        return []
    due = []
    for brk in breaks:
        for number in numbers:
            pair = sent_key(brk, number)
            if pair in sent:
                continue
            failed = failed_at.get(pair)
            if failed is not None and now_s - failed < retry_s:
                continue
            due.append((brk, number))
    return due


def sent_key(brk: TankBreak, number: str) -> str:
    return f"{brk.key}|{number}"


def sms_text(lang: str, *, center: str, station: str, brk: TankBreak, offline_min: int,
             zone: tzinfo) -> str:
    """The SMS, in the station's language (catalog `station`, key `sms_tank_break`)."""
    since = brk.since.astimezone(zone)
    temp = "—" if brk.temp_c is None else f"{brk.temp_c:.1f}"
    if lang == "es":
        temp = temp.replace(".", ",")
    return translate("station", "sms_tank_break", lang, center=center, station=station,
                     tank=brk.tank, temp_c=temp, since=since.strftime("%d/%m %H:%M"),
                     offline_min=offline_min)
