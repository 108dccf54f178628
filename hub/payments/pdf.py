"""Printable PDF statements (fpdf2): one per producer, a summary for the association, the reconciliation.

fpdf2 is pure Python (its dependencies Pillow, fonttools and defusedxml
have wheels for the Raspberry Pi on piwheels/PyPI): no compiler and no
matplotlib. The chart of litres and TS over the fortnight is drawn with
the PDF's own rectangles and lines. The core Helvetica font covers
Latin-1, which is all Spanish needs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from fpdf import FPDF

from hub.payments.engine import Fortnight, ProducerRow
from hub.payments.format import (
    check_language,
    due_items,
    format_date,
    line_notes,
    table_cells,
    table_header,
    text,
)
from hub.payments.money import ZERO, format_2dp, format_plain, mean_half_up
from hub.payments.reconcile import Reconciliation, reconciliation_rows


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


class _Doc(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15)
        self.add_page()
        self.set_font("Helvetica", size=10)

    def text_line(self, text: str, size: int = 10, bold: bool = False, h: float = 5) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, rows: list[list[str]], widths: list[float], left: tuple[int, ...] = (0,), size: int = 8) -> None:
        for n, row in enumerate(rows):
            self.set_font("Helvetica", "B" if n == 0 else "", size)
            for i, (cell, width) in enumerate(zip(row, widths)):
                self.cell(width, 4.5, _latin1(cell), border="B" if n == 0 else 0, align="L" if i in left else "R")
            self.ln(4.5)


def _chart(doc: _Doc, row: ProducerRow, fortnight: Fortnight, title: str) -> None:
    """Bars: accepted litres per day; line: litre-weighted TS per day (own scale on the right)."""
    period = fortnight.period
    days = []
    day = period.first_day()
    while day <= period.last_day():
        days.append(day)
        day += timedelta(days=1)
    liters: dict = defaultdict(lambda: ZERO)
    solids: dict = defaultdict(lambda: ZERO)
    for line in row.lines:
        if line.accepted:
            liters[line.ts.date()] += line.liters
            solids[line.ts.date()] += line.liters * line.solids_pct
    x0, w, h = doc.l_margin + 10, 160, 35
    doc.ln(2)
    doc.text_line(title, size=8)
    y0 = doc.get_y() + 2
    if y0 + h + 8 > doc.h - doc.b_margin:
        doc.add_page()
        y0 = doc.get_y() + 2
    top = max(liters.values(), default=ZERO) or Decimal(1)
    averages = {d: mean_half_up(solids[d], liters[d]) for d in days if liters[d] > 0}
    low = min(averages.values(), default=Decimal(10)) - 1
    high = max(averages.values(), default=Decimal(13)) + 1
    step = w / len(days)
    doc.set_draw_color(120)
    doc.line(x0, y0 + h, x0 + w, y0 + h)
    doc.set_font("Helvetica", size=6)
    doc.set_xy(x0 - 10, y0 - 1)
    doc.cell(9, 3, format_2dp(top), align="R")
    doc.set_xy(x0 + w + 1, y0 - 1)
    doc.cell(12, 3, f"{format_2dp(high)} %")
    doc.set_xy(x0 + w + 1, y0 + h - 2)
    doc.cell(12, 3, f"{format_2dp(low)} %")
    doc.set_fill_color(150, 190, 230)
    points = []
    for i, d in enumerate(days):
        bar = float(liters[d] / top) * h if liters[d] else 0
        if bar:
            doc.rect(x0 + i * step + step * 0.15, y0 + h - bar, step * 0.7, bar, style="F")
        doc.set_xy(x0 + i * step, y0 + h + 0.5)
        doc.cell(step, 3, str(d.day), align="C")
        if d in averages:
            points.append((x0 + (i + 0.5) * step, y0 + h - float((averages[d] - low) / (high - low)) * h))
    doc.set_draw_color(200, 60, 40)
    doc.set_line_width(0.5)
    for a, b in zip(points, points[1:]):
        doc.line(*a, *b)
    for x, y in points:
        doc.circle(x, y, 0.8, style="D") if hasattr(doc, "circle") else doc.ellipse(x - 0.8, y - 0.8, 1.6, 1.6)
    doc.set_line_width(0.2)
    doc.set_draw_color(0)
    doc.set_xy(doc.l_margin, y0 + h + 5)


def producer_statement_pdf(fortnight: Fortnight, producer: str, lang: str = "es") -> bytes:
    """The producer's printable statement (same content as the text one, plus receipt codes and chart)."""
    check_language(lang)
    row = fortnight.row(producer)
    pricing, period = fortnight.pricing, fortnight.period
    doc = _Doc()
    if pricing.association:
        doc.text_line(pricing.association, size=12, bold=True)
    doc.text_line(text("statement_title", lang, period=period), size=13, bold=True, h=7)
    doc.text_line(text("period_dates", lang, first=format_date(period.first_day(), lang),
                       last=format_date(period.last_day(), lang), timezone=pricing.timezone.key))
    doc.text_line(text("producer_label", lang, producer=row.producer), bold=True)
    doc.ln(2)
    # The rate is per the scheme's unit: per litre, or per kg of total solids (col_price_kg_solids).
    unit = pricing.scheme.unit
    price_head = text("col_price" if unit == "L" else f"col_price_{unit}", lang)
    table = [[text("col_date", lang), text("col_time", lang), text("col_liters", lang), text("col_solids", lang),
              price_head, text("col_value", lang), text("pdf_code", lang), text("col_note", lang)]]
    for line in row.lines:
        table.append([format_date(line.ts.date(), lang), line.ts.strftime("%H:%M"), format_plain(line.liters),
                      "-" if line.solids_pct is None else format_plain(line.solids_pct),
                      format_plain(line.price_per_liter) if line.accepted else "-", format_plain(line.value),
                      line.receipt_code or "", "; ".join(line_notes(line, lang))])
    if row.lines:
        doc.table(table, [20, 12, 18, 14, 18, 22, 30, 46], left=(0, 1, 6, 7))
    else:
        doc.text_line(text("no_deliveries", lang))
    for a in row.adjustments:
        doc.text_line(text("pdf_adjustment", lang, id=a.delivery_id, date=format_date(a.ts.date(), lang),
                           reason=text(f"adjustment_{a.reason}", lang), period=a.period)
                      + f": {format_plain(a.value)}", size=8)
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    doc.ln(1)
    doc.text_line(text("summary", lang, deliveries=row.deliveries, rejected=row.rejected,
                       liters=format_2dp(row.liters), solids=solids), size=9)
    if row.lines:
        _chart(doc, row, fortnight, text("pdf_chart", lang))
    doc.ln(2)
    if row.due:
        doc.text_line(text("due_title", lang), bold=True, size=9)
        for label, amount in due_items(row, lang):
            doc.set_font("Helvetica", size=9)
            doc.cell(140, 5, _latin1(label))
            doc.cell(30, 5, amount, align="R", new_x="LMARGIN", new_y="NEXT")
    currency = pricing.currency
    summary = [
        (text("gross", lang, currency=currency), row.gross, False),
        (text("fees", lang, rate=format_plain(pricing.contribution_per_liter), currency=currency), row.fees, False),
        (text("deductions", lang), row.deductions, False),
        (text("net", lang, currency=currency), row.net, True),
    ]
    if row.carried_over:
        summary.append((text("carried_over", lang), row.carried_over, False))
    for label, amount, bold in summary:
        doc.set_font("Helvetica", "B" if bold else "", 10)
        doc.cell(140, 6, _latin1(label))
        doc.cell(30, 6, format_2dp(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("Helvetica", "I", 7)
    doc.multi_cell(0, 3.5, _latin1(text("exact_note", lang)))
    return bytes(doc.output())


def summary_pdf(fortnight: Fortnight, lang: str = "es") -> bytes:
    """The association's summary: one line per producer and the TOTAL, as statements.csv."""
    check_language(lang)
    doc = _Doc()
    if fortnight.pricing.association:
        doc.text_line(fortnight.pricing.association, size=12, bold=True)
    doc.text_line(text("pdf_summary_title", lang, period=fortnight.period), size=13, bold=True, h=7)
    period = fortnight.period
    doc.text_line(text("table_title", lang, period=period, first=format_date(period.first_day(), lang),
                       last=format_date(period.last_day(), lang), currency=fortnight.pricing.currency))
    rows = [table_header(lang)] + [table_cells(str(period), r) for r in (*fortnight.rows, fortnight.total)]
    doc.table(rows, [24, 14, 16, 18, 12, 18, 16, 18, 22, 18], size=7)
    return bytes(doc.output())


def reconciliation_pdf(rec: Reconciliation, lang: str = "es") -> bytes:
    """The reconciliation with the buyer on one page: the table, then the alerts."""
    check_language(lang)
    rows, notes = reconciliation_rows(rec, lang)
    doc = _Doc()
    doc.text_line(text("reconcile_title", lang, period=rec.period), size=13, bold=True, h=7)
    doc.ln(2)
    doc.table(rows, [60, 28, 28, 28, 20], size=9)
    doc.ln(3)
    for note in notes:
        doc.text_line(note, bold=note.startswith("ALERT"))
    return bytes(doc.output())
