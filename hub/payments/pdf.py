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
from hub.payments.money import ZERO, format_2dp, format_plain, mean_half_up
from hub.payments.statements import TEXTS, _date, line_notes

EXTRA = {
    "es": {"code": "Código", "chart": "Litros (barras) y ST % (línea) por día", "summary_title":
           "RESUMEN DE LA QUINCENA {period}", "adjustment": "Ajuste: entrega {id} del {date} ({reason}, quincena {period} cerrada)",
           "late": "tardía", "corrected": "corregida", "page": "Página"},
    "en": {"code": "Code", "chart": "Liters (bars) and TS % (line) per day", "summary_title":
           "FORTNIGHT SUMMARY {period}", "adjustment": "Adjustment: delivery {id} of {date} ({reason}, closed fortnight {period})",
           "late": "late", "corrected": "corrected", "page": "Page"},
}


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
    t, x = TEXTS[lang], EXTRA[lang]
    row = fortnight.row(producer)
    pricing, period = fortnight.pricing, fortnight.period
    doc = _Doc()
    if pricing.association:
        doc.text_line(pricing.association, size=12, bold=True)
    doc.text_line(t["title"].format(period=period), size=13, bold=True, h=7)
    doc.text_line(t["period_dates"].format(first=_date(period.first_day(), t), last=_date(period.last_day(), t),
                                           timezone=pricing.timezone.key))
    doc.text_line(t["producer_label"].format(producer=row.producer), bold=True)
    doc.ln(2)
    unit = pricing.scheme.unit
    price_head = t["col_price"] if unit == "L" else t["col_price"].replace("/L", "/kg ST")
    table = [[t["col_date"], t["col_time"], t["col_liters"], t["col_solids"], price_head, t["col_value"],
              x["code"], t["col_note"]]]
    for line in row.lines:
        notes = line_notes(line, t, lang)
        table.append([_date(line.ts.date(), t), line.ts.strftime("%H:%M"), format_plain(line.liters),
                      "-" if line.solids_pct is None else format_plain(line.solids_pct),
                      format_plain(line.price_per_liter) if line.accepted else "-", format_plain(line.value),
                      line.receipt_code or "", "; ".join(notes)])
    if row.lines:
        doc.table(table, [20, 12, 18, 14, 18, 22, 30, 46], left=(0, 1, 6, 7))
    else:
        doc.text_line(t["no_deliveries"])
    for a in row.adjustments:
        doc.text_line(x["adjustment"].format(id=a.delivery_id, date=_date(a.ts.date(), t), reason=x[a.reason],
                                             period=a.period) + f": {format_plain(a.value)}", size=8)
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    doc.ln(1)
    doc.text_line(t["summary"].format(deliveries=row.deliveries, rejected=row.rejected,
                                      liters=format_2dp(row.liters), solids=solids), size=9)
    if row.lines:
        _chart(doc, row, fortnight, x["chart"])
    doc.ln(2)
    if row.due:
        doc.text_line(t["due_title"], bold=True, size=9)
        items = []
        if row.carried_in:
            items.append(["  " + t["carried_in"], format_2dp(row.carried_in)])
        for charge in row.charges:
            kind = t["kinds"].get(charge.kind.lower(), charge.kind)
            items.append(["  " + t["installment"].format(kind=kind, number=charge.installment,
                                                         count=charge.installments, first_period=charge.first_period),
                          format_2dp(charge.amount)])
        for label, amount in items:
            doc.set_font("Helvetica", size=9)
            doc.cell(140, 5, _latin1(label))
            doc.cell(30, 5, amount, align="R", new_x="LMARGIN", new_y="NEXT")
    summary = [
        (t["gross"].format(currency=pricing.currency), row.gross, False),
        (t["fees"].format(rate=format_plain(pricing.contribution_per_liter), currency=pricing.currency), row.fees, False),
        (t["deductions"], row.deductions, False),
        (t["net"].format(currency=pricing.currency), row.net, True),
    ]
    if row.carried_over:
        summary.append((t["carried_over"], row.carried_over, False))
    for label, amount, bold in summary:
        doc.set_font("Helvetica", "B" if bold else "", 10)
        doc.cell(140, 6, _latin1(label))
        doc.cell(30, 6, format_2dp(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("Helvetica", "I", 7)
    doc.multi_cell(0, 3.5, _latin1(t["exact_note"]))
    return bytes(doc.output())


def summary_pdf(fortnight: Fortnight, lang: str = "es") -> bytes:
    """The association's summary: one line per producer and the TOTAL, as statements.csv."""
    from hub.payments.statements import _csv_row

    t, x = TEXTS[lang], EXTRA[lang]
    doc = _Doc()
    if fortnight.pricing.association:
        doc.text_line(fortnight.pricing.association, size=12, bold=True)
    doc.text_line(x["summary_title"].format(period=fortnight.period), size=13, bold=True, h=7)
    period = fortnight.period
    doc.text_line(t["table_title"].format(period=period, first=_date(period.first_day(), t),
                                          last=_date(period.last_day(), t), currency=fortnight.pricing.currency))
    header = [t[f"col_{n}"] for n in ("producer", "deliveries", "rejected", "liters", "solids", "gross", "fees",
                                       "deductions", "carried_over", "net")]
    rows = [header] + [[str(c) or "-" for c in _csv_row(str(period), r)[1:]] for r in (*fortnight.rows, fortnight.total)]
    doc.table(rows, [24, 14, 16, 18, 12, 18, 16, 18, 22, 18], size=7)
    return bytes(doc.output())


def reconciliation_pdf(rec, lang: str = "es") -> bytes:
    from hub.payments.reconcile import TEXTS as RTEXTS
    from hub.payments.reconcile import reconciliation_rows

    rows, notes = reconciliation_rows(rec, lang)
    doc = _Doc()
    doc.text_line(RTEXTS[lang]["title"].format(period=rec.period), size=13, bold=True, h=7)
    doc.ln(2)
    doc.table(rows, [60, 28, 28, 28, 20], size=9)
    doc.ln(3)
    for note in notes:
        doc.text_line(note, bold=note.startswith("ALERT"))
    return bytes(doc.output())
