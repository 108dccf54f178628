"""The words of each message to a producer (pure; catalog `payments`, keys
`notify_*`). Short on purpose: an SMS gateway sends 160 characters per part,
and a producer reads them on a basic phone. Money and litres to the cent, as
on the statement."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from milk_common.i18n import has_text, translate

from hub.payments.periods import Period


def _t(lang: str, key: str, **values: object) -> str:
    return translate("payments", key, lang, **values)


def _date(lang: str, day: date) -> str:
    return day.strftime(_t(lang, "date_format"))


def payment_date(period: Period, days_after: int | None) -> date | None:
    """The day producers are paid: `days_after` days after the period's last day."""
    return None if days_after is None else period.last_day() + timedelta(days=days_after)


def fortnight_message(row: Mapping[str, str], period: Period, name: str, *, currency: str,
                      pay_date: date | None, lang: str) -> tuple[str, str]:
    """(title, body) for one producer's row of statements.csv (its texts, as written)."""
    body = _t(lang, "notify_fortnight_body", name=name, first=_date(lang, period.first_day()),
              last=_date(lang, period.last_day()), liters=row["liters"],
              solids=row.get("avg_solids_pct") or "-", deductions=row["deductions"], net=row["net"],
              currency=currency)
    carried = row.get("carried_over") or "0.00"
    if carried not in ("0", "0.00", ""):
        body += " " + _t(lang, "notify_fortnight_carried", carried=carried, currency=currency)
    if pay_date is not None:
        body += " " + _t(lang, "notify_fortnight_pay", date=_date(lang, pay_date))
    return _t(lang, "notify_fortnight_title", period=str(period)), body


def delivery_message(record: Mapping[str, object], name: str, tz: ZoneInfo, lang: str) -> tuple[str, str]:
    """(title, body) for one `delivery/1` record as the hub stored it."""
    when = datetime.fromisoformat(str(record["ts"])).astimezone(tz)
    code = record.get("receipt_code") or "-"
    values = dict(name=name, date=_date(lang, when.date()), time=when.strftime("%H:%M"), code=code)
    if record.get("accepted"):
        liters = f"{float(record.get('liters') or 0):.2f}"
        solids = record.get("solids_pct")
        body = _t(lang, "notify_delivery_accepted", liters=liters,
                  solids="-" if solids is None else f"{float(solids):.2f}", **values)
    else:
        reason = str(record.get("reject_reason") or "")
        words = _t(lang, f"reason_{reason}") if reason and has_text("payments", f"reason_{reason}") else reason
        body = _t(lang, "notify_delivery_rejected", reason=words or "-", **values)
    return _t(lang, "notify_delivery_title", code=code), body
