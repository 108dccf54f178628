"""A producer's balance and history over the last periods, as plain data and
as the Spanish (or English) text `milk-hub producer P001` prints. Pure: the
command reads the ledger, the registry and InfluxDB and hands the values in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from milk_common.contract.registry import Producer
from milk_common.i18n import translate

from hub.payments.advances import AdvanceRecord, schedule
from hub.payments.money import ZERO, format_2dp
from hub.payments.periods import Period
from hub.payments.records import Advance


@dataclass(frozen=True, slots=True)
class PeriodLine:
    period: Period
    closed: bool
    deliveries: int | None            # None: not known (InfluxDB not reachable)
    liters: Decimal | None
    money: Mapping[str, Decimal] = field(default_factory=dict)   # gross, fees, deductions, carried_over, net


@dataclass(frozen=True, slots=True)
class Installment:
    advance: Advance
    number: int
    period: Period
    amount: Decimal
    state: str                        # deducted (in a closed period), due (open), cancelled


@dataclass(frozen=True, slots=True)
class History:
    code: str
    producer: Producer | None
    lines: list[PeriodLine]
    records: list[AdvanceRecord]
    installments: list[Installment]
    carried_over: Decimal             # from the last closed period
    pending_installments: Decimal     # falling due after the last closed period
    last_closed: Period | None

    @property
    def balance_owed(self) -> Decimal:
        return self.carried_over + self.pending_installments


def build_history(code: str, producer: Producer | None, periods: list[Period],
                  closed_rows: Mapping[Period, Mapping[str, Decimal]], closed_periods: Iterable[Period],
                  paid: Mapping[Period, tuple[int, Decimal]], open_deliveries: Mapping[Period, tuple[int, Decimal]],
                  records: Iterable[AdvanceRecord], advances: Iterable[Advance]) -> History:
    """`periods`: the window shown, oldest first; `paid`: (deliveries, litres) paid per
    closed period; `open_deliveries`: the same read from InfluxDB for open periods;
    `records`: the ledger's advance records of the producer; `advances`: every advance
    counted for them (records, CSV at the last closing) after `merge_advances`."""
    closed = sorted(set(closed_periods))
    last_closed = closed[-1] if closed else None
    lines = []
    for period in periods:
        is_closed = period in closed
        counts = paid.get(period) if is_closed else open_deliveries.get(period)
        lines.append(PeriodLine(period, is_closed, counts[0] if counts else (0 if is_closed else None),
                                counts[1] if counts else (ZERO if is_closed else None),
                                closed_rows.get(period, {})))
    records = list(records)
    cancelled = {r.id for r in records if not r.active}
    installments = []
    pending = ZERO
    for advance in advances:
        for number, (due, amount) in enumerate(schedule(advance), start=1):
            done = last_closed is not None and due <= last_closed
            state = "deducted" if done else ("cancelled" if advance.id in cancelled else "due")
            if advance.producer != code:
                continue
            installments.append(Installment(advance, number, due, amount, state))
            if state == "due":
                pending += amount
    for record in records:           # cancelled ones are not among `advances`: show them too
        if record.id in cancelled:
            for number, (due, amount) in enumerate(schedule(record.advance), start=1):
                done = last_closed is not None and due <= last_closed
                installments.append(Installment(record.advance, number, due, amount,
                                                "deducted" if done else "cancelled"))
    carried = closed_rows.get(last_closed, {}).get("carried_over", ZERO) if last_closed else ZERO
    installments.sort(key=lambda i: (i.period, i.advance.id or "", i.number))
    return History(code, producer, lines, records, installments, carried, pending, last_closed)


def _money(value: Decimal | None) -> str:
    return "-" if value is None else format_2dp(value)


def render_history(h: History, lang: str, currency: str = "") -> str:
    """The text `milk-hub producer` prints (catalog `payments`, keys `history_*`)."""
    def t(key: str, **values: object) -> str:
        return translate("payments", f"history_{key}", lang, **values)

    out = []
    name = h.producer.name if h.producer else t("unknown_name")
    state = "" if h.producer is None else t("active" if h.producer.active else "inactive")
    out.append(t("title", code=h.code, name=name, state=state))
    if h.producer is not None:
        out.append(t("contact", phone=h.producer.phone or "-",
                     notify=t("yes") if h.producer.notify else t("no")))
    out.append("")
    header = t("columns").split("|")
    widths = [10, 9, 10, 10, 9, 11, 10, 10, 0]
    rows = [header]
    for line in h.lines:
        m = line.money
        status = t("closed") if line.closed else t("open")
        rows.append([str(line.period), "-" if line.deliveries is None else str(line.deliveries),
                     _money(line.liters), _money(m.get("gross")), _money(m.get("fees")),
                     _money(m.get("deductions")), _money(m.get("carried_over")), _money(m.get("net")), status])
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1])] + [" " + row[-1]]
        out.append("".join(cells).rstrip())
    out.append("")
    out.append(t("advances"))
    if not h.installments:
        out.append("  " + t("no_advances"))
    for i in h.installments:
        a = i.advance
        out.append("  " + t("installment", id=a.id or "-", kind=t(f"kind_{a.kind}") if a.kind in
                                   ("feed", "veterinary", "cash", "other") else a.kind,
                             number=i.number, of=a.installments, amount=format_2dp(i.amount),
                             period=str(i.period), state=t(f"state_{i.state}")))
    for r in h.records:
        line = t("entered", id=r.id, by=r.entered_by, at=r.entered_at)
        if not r.active:
            line += " " + t("cancelled_by", by=r.cancelled_by or "-", at=r.cancelled_at or "-")
        out.append("  " + line)
    out.append("")
    out.append(t("balance", owed=format_2dp(h.balance_owed), currency=f" {currency}" if currency else "",
                 carried=format_2dp(h.carried_over), pending=format_2dp(h.pending_installments),
                 last=str(h.last_closed) if h.last_closed else "-").rstrip())
    return "\n".join(out) + "\n"
