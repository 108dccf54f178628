"""Reconciliation with the buyer (payments.md, "Reconciliation with the buyer").

The buyer pays the association for the fortnight on its own measurements.
Side by side: litres accepted at the center vs litres the buyer paid
(shrinkage %, flagged above ``[reconcile] max_shrinkage_pct``, default 1 %),
the center's litre-weighted TS vs the buyer's, and the buyer's amount vs the
gross paid to producers (the association's margin).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hub.payments.csvio import FieldError, decimal_field, read_rows, row_error
from hub.payments.engine import TOTAL, Fortnight, ProducerRow
from hub.payments.errors import PaymentsError, Text
from hub.payments.files import write_text_atomic
from hub.payments.format import align, check_language, text
from hub.payments.money import ZERO, format_2dp, mean_half_up
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing

BUYER_COLUMNS = ("period", "liters", "avg_solids_pct", "amount")
RECONCILE_COLUMNS = ("period", "measure", "center", "buyer", "difference", "difference_pct", "flag")


@dataclass(frozen=True, slots=True)
class BuyerStatement:
    """The buyer's figures for one period: litres, average TS %, amount in currency."""

    period: Period
    liters: Decimal
    avg_solids_pct: Decimal | None
    amount: Decimal


def read_buyer_csv(path: Path | str, period: Period) -> BuyerStatement:
    """The row of ``period`` in a buyer statement CSV; PaymentsError naming file, row and field."""
    found: BuyerStatement | None = None
    for row_number, values in read_rows(path, BUYER_COLUMNS):
        try:
            try:
                row_period = Period.parse(values["period"])
            except PaymentsError as exc:
                raise FieldError("period", exc.message) from None
            statement = BuyerStatement(
                period=row_period,
                liters=decimal_field(values, "liters", minimum=ZERO),
                avg_solids_pct=(decimal_field(values, "avg_solids_pct", ZERO, Decimal(100))
                                if values["avg_solids_pct"] else None),
                amount=decimal_field(values, "amount", minimum=ZERO),
            )
        except FieldError as exc:
            raise row_error(path, row_number, exc) from None
        if row_period == period:
            if found is not None:
                raise row_error(path, row_number, FieldError("period", Text("period_twice", period=period)))
            found = statement
    if found is None:
        raise PaymentsError(Text("no_buyer_row", path=path, period=period))
    return found


@dataclass(frozen=True, slots=True)
class Line:
    """One measure side by side. ``difference`` = center − buyer (the one sign convention of
    the reconciliation, for every measure); ``difference_pct`` is that difference in % of the
    center's figure."""

    measure: str
    center: Decimal | None
    buyer: Decimal | None
    difference: Decimal | None
    difference_pct: Decimal | None
    flag: str = ""


@dataclass(frozen=True, slots=True)
class ProducerShare:
    """One producer's part of the center's figures (for the detail under the comparison)."""

    producer: str
    name: str
    liters: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class Reconciliation:
    period: Period
    currency: str
    max_shrinkage_pct: Decimal
    lines: tuple[Line, ...]
    producers: tuple[ProducerShare, ...] = ()
    total_liters: Decimal = ZERO
    total_gross: Decimal = ZERO

    def line(self, measure: str) -> Line:
        return next(line for line in self.lines if line.measure == measure)

    @property
    def shrinkage_flagged(self) -> bool:
        return self.line("liters").flag == "SHRINKAGE"

    @property
    def flags(self) -> list[str]:
        return [line.flag for line in self.lines if line.flag]


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole × 100`` rounded half-up to 2 decimals (signed); None when ``whole`` is 0."""
    if whole == 0:
        return None
    magnitude = mean_half_up(abs(part) * 100, whole)
    return -magnitude if part < 0 else magnitude


def reconcile(fortnight: Fortnight, buyer: BuyerStatement, names: Mapping[str, str] | None = None) -> Reconciliation:
    """Compare the center's fortnight with the buyer's statement, every difference center − buyer.

    Litres: a positive difference is shrinkage (flagged ``SHRINKAGE`` above
    ``max_shrinkage_pct`` % of the center's litres); a negative one means the
    buyer claims more litres than the center collected (``BUYER_EXCESS``).
    Amount: the center's figure is the gross paid to producers, so the
    association's margin is −difference; a positive difference (the buyer
    paid less than the producers were paid) is ``NEGATIVE_MARGIN``.
    ``names`` (the registry) names the producers of the detail.
    """
    total = fortnight.total
    center_liters = total.liters
    shrink = center_liters - buyer.liters
    shrink_pct = _pct(shrink, center_liters)
    limit = fortnight.pricing.max_shrinkage_pct
    if shrink < 0:
        flag = "BUYER_EXCESS"
    elif shrink_pct is not None and shrink_pct > limit:
        flag = "SHRINKAGE"
    else:
        flag = ""
    solids_diff = (None if total.avg_solids_pct is None or buyer.avg_solids_pct is None
                   else total.avg_solids_pct - buyer.avg_solids_pct)
    amount_diff = total.gross - buyer.amount
    lines = (
        Line("liters", center_liters, buyer.liters, shrink, shrink_pct, flag),
        Line("avg_solids_pct", total.avg_solids_pct, buyer.avg_solids_pct, solids_diff, None),
        Line("amount", total.gross, buyer.amount, amount_diff, _pct(amount_diff, total.gross),
             "NEGATIVE_MARGIN" if amount_diff > 0 else ""),
    )
    producers = tuple(ProducerShare(row.producer, (names or {}).get(row.producer, ""), row.liters, row.gross)
                      for row in fortnight.rows)
    return Reconciliation(fortnight.period, fortnight.pricing.currency, limit, lines, producers,
                          total.liters, total.gross)


def _cell(value: Decimal | None) -> str:
    return "" if value is None else format_2dp(value)


def reconciliation_csv_text(rec: Reconciliation) -> str:
    """``period, measure, center, buyer, difference, difference_pct, flag``; every difference is
    center − buyer (for ``amount`` the center is the gross paid to producers: the margin is −difference)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RECONCILE_COLUMNS)
    for line in rec.lines:
        writer.writerow([str(rec.period), line.measure, _cell(line.center), _cell(line.buyer),
                         _cell(line.difference), _cell(line.difference_pct), line.flag])
    return buffer.getvalue()


def reconciliation_rows(rec: Reconciliation, lang: str = "es") -> tuple[list[list[str]], list[str]]:
    """The table (header first) and the alert lines, translated."""
    check_language(lang)
    rows = [["", *(text(f"reconcile_head_{name}", lang) for name in ("center", "buyer", "difference", "pct"))]]
    for line in rec.lines:
        rows.append([text(f"reconcile_{line.measure}", lang, currency=rec.currency), _cell(line.center),
                     _cell(line.buyer), _cell(line.difference), _cell(line.difference_pct)])
    notes = []
    for line in rec.lines:
        if line.flag:
            difference = line.difference if line.difference is not None else ZERO
            notes.append(text(f"reconcile_{line.flag.lower()}", lang, pct=_cell(line.difference_pct),
                              limit=rec.max_shrinkage_pct, difference=_cell(difference),
                              excess=_cell(-difference)))
    if not rec.line("liters").flag:
        notes.append(text("reconcile_ok", lang, limit=rec.max_shrinkage_pct))
    return rows, notes


def reconciliation_producer_rows(rec: Reconciliation, lang: str = "es") -> list[list[str]]:
    """The detail per producer (header first, TOTAL last): code, name, litres, gross."""
    if not rec.producers:
        return []
    rows = [[text("col_producer", lang), text("col_name", lang), text("col_liters", lang),
             text("col_gross", lang)]]
    rows += [[p.producer, p.name, format_2dp(p.liters), format_2dp(p.gross)] for p in rec.producers]
    rows.append([TOTAL, "", format_2dp(rec.total_liters), format_2dp(rec.total_gross)])
    return rows


def render_reconciliation(rec: Reconciliation, lang: str = "es") -> str:
    """reconciliation.txt: the title, the aligned table, then the alerts."""
    rows, notes = reconciliation_rows(rec, lang)
    lines = [text("reconcile_title", lang, period=rec.period), text("reconcile_convention", lang), "",
             *align(rows), "", *notes]
    producers = reconciliation_producer_rows(rec, lang)
    if producers:
        lines += ["", *align(producers, left=(0, 1))]
    return "\n".join(lines) + "\n"


def write_reconciliation_text(out_dir: Path, rec: Reconciliation, lang: str = "es") -> None:
    """``reconciliation.csv`` and ``reconciliation.txt`` in ``out_dir`` (the PDF: `hub.payments.report`)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PaymentsError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
    write_text_atomic(out_dir / "reconciliation.csv", reconciliation_csv_text(rec))
    write_text_atomic(out_dir / "reconciliation.txt", render_reconciliation(rec, lang))


def fortnight_from_statements(statements_csv: str, pricing_path: str) -> Fortnight:
    """A closed period's TOTAL (from its frozen statements.csv) as a Fortnight, for `reconcile`."""
    rows = list(csv.DictReader(io.StringIO(statements_csv)))
    t = next(r for r in rows if r["producer"] == TOTAL)
    total = ProducerRow(TOTAL, int(t["deliveries"]), int(t["rejected"]), Decimal(t["liters"]),
                        Decimal(t["avg_solids_pct"]) if t["avg_solids_pct"] else None, Decimal(t["gross"]),
                        Decimal(t["fees"]), Decimal(t["deductions"]), Decimal(t["carried_over"]), Decimal(t["net"]))
    return Fortnight(Period.parse(t["period"]), load_pricing(pricing_path), (), total)
