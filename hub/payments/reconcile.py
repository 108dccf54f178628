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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from hub.errors import UserError
from hub.payments.engine import Fortnight
from hub.payments.money import ZERO, format_2dp, mean_half_up
from hub.payments.periods import Period
from hub.payments.records import _decimal, _FieldError, _read_rows

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
    """The row of ``period`` in a buyer statement CSV; UserError naming file, row and field."""
    found: BuyerStatement | None = None
    for row_number, values in _read_rows(path, BUYER_COLUMNS):
        try:
            try:
                row_period = Period.parse(values["period"])
            except UserError as exc:
                raise _FieldError("period", str(exc)) from None
            statement = BuyerStatement(
                period=row_period,
                liters=_decimal(values, "liters", minimum=ZERO),
                avg_solids_pct=(_decimal(values, "avg_solids_pct", ZERO, Decimal(100))
                                if values["avg_solids_pct"] else None),
                amount=_decimal(values, "amount", minimum=ZERO),
            )
        except _FieldError as exc:
            raise UserError(f"{path}: row {row_number}, {exc}") from None
        if row_period == period:
            if found is not None:
                raise UserError(f"{path}: row {row_number}, field period: period {period} appears twice")
            found = statement
    if found is None:
        raise UserError(f"{path}: no row for period {period}")
    return found


@dataclass(frozen=True, slots=True)
class Line:
    """One measure side by side. ``difference`` = center − buyer; ``difference_pct`` of the center's."""

    measure: str
    center: Decimal | None
    buyer: Decimal | None
    difference: Decimal | None
    difference_pct: Decimal | None
    flag: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    period: Period
    currency: str
    max_shrinkage_pct: Decimal
    lines: tuple[Line, ...]

    def line(self, measure: str) -> Line:
        return next(line for line in self.lines if line.measure == measure)

    @property
    def shrinkage_flagged(self) -> bool:
        return bool(self.line("liters").flag)


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole × 100`` rounded half-up to 2 decimals (signed); None when ``whole`` is 0."""
    if whole == 0:
        return None
    magnitude = mean_half_up(abs(part) * 100, whole)
    return -magnitude if part < 0 else magnitude


def reconcile(fortnight: Fortnight, buyer: BuyerStatement) -> Reconciliation:
    """Compare the center's fortnight with the buyer's statement.

    Shrinkage = (center litres − buyer litres) / center litres × 100; the
    margin = buyer amount − gross paid to producers (as % of the buyer's amount).
    """
    total = fortnight.total
    center_liters = total.liters
    shrink = center_liters - buyer.liters
    shrink_pct = _pct(shrink, center_liters)
    limit = fortnight.pricing.max_shrinkage_pct
    flag = "SHRINKAGE" if shrink_pct is not None and shrink_pct > limit else ""
    solids_diff = (None if total.avg_solids_pct is None or buyer.avg_solids_pct is None
                   else total.avg_solids_pct - buyer.avg_solids_pct)
    margin = buyer.amount - total.gross
    lines = (
        Line("liters", center_liters, buyer.liters, shrink, shrink_pct, flag),
        Line("avg_solids_pct", total.avg_solids_pct, buyer.avg_solids_pct, solids_diff, None),
        # For money the columns read: gross paid to producers, buyer's amount, margin.
        Line("amount", total.gross, buyer.amount, margin, _pct(margin, buyer.amount),
             "NEGATIVE_MARGIN" if margin < 0 else ""),
    )
    return Reconciliation(fortnight.period, fortnight.pricing.currency, limit, lines)


def _cell(value: Decimal | None) -> str:
    return "" if value is None else format_2dp(value)


def reconciliation_csv_text(rec: Reconciliation) -> str:
    """``period, measure, center, buyer, difference, difference_pct, flag``; for ``amount``
    the center is the gross paid to producers and the difference is the margin (buyer − gross)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RECONCILE_COLUMNS)
    for line in rec.lines:
        writer.writerow([str(rec.period), line.measure, _cell(line.center), _cell(line.buyer),
                         _cell(line.difference), _cell(line.difference_pct), line.flag])
    return buffer.getvalue()


TEXTS = {
    "es": {
        "title": "CONCILIACIÓN CON EL COMPRADOR, QUINCENA {period}",
        "head": ("", "Centro", "Comprador", "Diferencia", "%"),
        "liters": "Litros (merma)",
        "avg_solids_pct": "Sólidos totales %",
        "amount": "Importe {currency} (margen)",
        "SHRINKAGE": "ALERTA: merma {pct} % mayor que el límite de {limit} %",
        "NEGATIVE_MARGIN": "ALERTA: el comprador pagó menos que el bruto pagado a los productores",
        "ok": "Merma dentro del límite de {limit} %.",
    },
    "en": {
        "title": "RECONCILIATION WITH THE BUYER, FORTNIGHT {period}",
        "head": ("", "Center", "Buyer", "Difference", "%"),
        "liters": "Liters (shrinkage)",
        "avg_solids_pct": "Total solids %",
        "amount": "Amount {currency} (margin)",
        "SHRINKAGE": "ALERT: shrinkage {pct} % above the limit of {limit} %",
        "NEGATIVE_MARGIN": "ALERT: the buyer paid less than the gross paid to producers",
        "ok": "Shrinkage within the limit of {limit} %.",
    },
}


def reconciliation_rows(rec: Reconciliation, lang: str = "es") -> tuple[list[list[str]], list[str]]:
    """The table (header first) and the alert lines, translated."""
    t = TEXTS[lang]
    rows = [list(t["head"])]
    for line in rec.lines:
        rows.append([t[line.measure].format(currency=rec.currency), _cell(line.center), _cell(line.buyer),
                     _cell(line.difference), _cell(line.difference_pct)])
    notes = []
    for line in rec.lines:
        if line.flag:
            notes.append(t[line.flag].format(pct=_cell(line.difference_pct), limit=rec.max_shrinkage_pct))
    if not rec.shrinkage_flagged:
        notes.append(t["ok"].format(limit=rec.max_shrinkage_pct))
    return rows, notes


def render_reconciliation(rec: Reconciliation, lang: str = "es") -> str:
    from hub.payments.statements import _align

    rows, notes = reconciliation_rows(rec, lang)
    return "\n".join([TEXTS[lang]["title"].format(period=rec.period), "", *_align(rows), "", *notes]) + "\n"


def write_reconciliation(out_dir: Path, rec: Reconciliation, lang: str = "es", pdf: bool = True) -> None:
    """``reconciliation.csv``, ``reconciliation.txt`` and (``pdf``) ``reconciliation.pdf`` in ``out_dir``."""
    from hub.payments.files import write_bytes_atomic, write_text_atomic

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None
    write_text_atomic(out_dir / "reconciliation.csv", reconciliation_csv_text(rec))
    write_text_atomic(out_dir / "reconciliation.txt", render_reconciliation(rec, lang))
    if pdf:
        from hub.payments.pdf import reconciliation_pdf

        write_bytes_atomic(out_dir / "reconciliation.pdf", reconciliation_pdf(rec, lang))


def fortnight_from_statements(statements_csv: str, pricing_path: str) -> Fortnight:
    """A closed period's TOTAL (from its frozen statements.csv) as a Fortnight, for `reconcile`."""
    from hub.payments.engine import TOTAL, ProducerRow
    from hub.payments.pricing import load_pricing

    rows = list(csv.DictReader(io.StringIO(statements_csv)))
    t = next(r for r in rows if r["producer"] == TOTAL)
    total = ProducerRow(TOTAL, int(t["deliveries"]), int(t["rejected"]), Decimal(t["liters"]),
                        Decimal(t["avg_solids_pct"]) if t["avg_solids_pct"] else None, Decimal(t["gross"]),
                        Decimal(t["fees"]), Decimal(t["deductions"]), Decimal(t["carried_over"]), Decimal(t["net"]))
    return Fortnight(Period.parse(t["period"]), load_pricing(pricing_path), (), total)
