"""Printable PDF statements (fpdf2): one per producer, a summary for the association, the reconciliation.

fpdf2 is pure Python (its dependencies Pillow, fonttools and defusedxml
have wheels for the Raspberry Pi on piwheels/PyPI): no compiler and no
matplotlib. The chart of litres and TS over the fortnight is drawn with
the PDF's own rectangles and lines. The core Helvetica font covers
Latin-1, which is all Spanish needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from fpdf import FPDF

from hub.payments.engine import Fortnight, ProducerRow
from hub.payments.explain import producer_heading, rule_sentence, statement_view
from hub.payments.format import (
    check_language,
    format_date,
    table_cells,
    table_header,
    text,
)
from hub.payments.money import ZERO, format_2dp, mean_half_up
from hub.payments.reconcile import (
    Reconciliation,
    reconciliation_producer_rows,
    reconciliation_rows,
)
from hub.payments.statements import (
    statement_delivery_cells,
    statement_delivery_header,
    statement_money_lines,
    statement_text_columns,
)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


# Characters outside Latin-1 that a statement uses, and their place in the core Symbol font.
_SYMBOL = {"\u2264": "\xa3", "\u2265": "\xb3", "\u2212": "-"}


def _plain_symbols(text: str) -> str:  # table cells: ≥ and ≤ in plain letters
    return text.replace("\u2265", ">=").replace("\u2264", "<=").replace("\u2212", "-")


class _Doc(FPDF):
    def __init__(self, orientation: str = "P") -> None:
        super().__init__(orientation=orientation, format="A4")
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15)
        self.add_page()
        self.set_font("Helvetica", size=10)

    def text_line(self, text: str, size: int = 10, bold: bool = False, h: float = 5) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def rich_text(self, text: str, size: int = 9, h: float = 4.5, style: str = "") -> None:
        """A paragraph that may hold ≤ or ≥: Helvetica, with those from the core Symbol font."""
        run = ""
        for char in text:
            if char in _SYMBOL and _SYMBOL[char] != "-":
                if run:
                    self.set_font("Helvetica", style, size)
                    self.write(h, _latin1(run))
                    run = ""
                self.set_font("Symbol", "", size)
                self.write(h, _SYMBOL[char])
            else:
                run += _SYMBOL.get(char, char)
        if run:
            self.set_font("Helvetica", style, size)
            self.write(h, _latin1(run))
        self.ln(h)

    def table(self, rows: list[list[str]], widths: list[float], left: tuple[int, ...] = (0,), size: float = 8,
              bold_last: bool = False, gap_before: int | None = None) -> None:
        """Rows of cells (the first the header); ``gap_before``: the column after which a
        left-aligned column starts with some space (so it does not touch the number before it)."""
        for n, row in enumerate(rows):
            last = bold_last and n == len(rows) - 1
            self.set_font("Helvetica", "B" if n == 0 or last else "", size)
            for i, (cell, width) in enumerate(zip(row, widths)):
                pad = "   " if gap_before is not None and i == gap_before else ""
                self.cell(width, 4.5, _latin1(pad + _plain_symbols(cell)), border="B" if n == 0 else ("T" if last else 0),
                          align="L" if i in left else "R")
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
    scheme = fortnight.pricing.scheme
    reference = getattr(scheme, "reference_solids_pct", None)  # the TS the bonus and penalty start from
    marks = list(averages.values()) + ([reference] if reference is not None else [])
    low = min(marks, default=Decimal(10)) - 1
    high = max(marks, default=Decimal(13)) + 1
    step = w / len(days)
    doc.set_draw_color(120)
    doc.line(x0, y0 + h, x0 + w, y0 + h)
    doc.set_font("Helvetica", size=6)
    doc.set_xy(x0 - 12, y0 - 1)
    doc.cell(11, 3, f"{format_2dp(top)} L", align="R")
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
    if reference is not None:
        y_ref = y0 + h - float((reference - low) / (high - low)) * h
        doc.set_draw_color(90, 150, 60)
        doc.set_line_width(0.3)
        doc.set_dash_pattern(dash=1.5, gap=1)
        doc.line(x0, y_ref, x0 + w, y_ref)
        doc.set_dash_pattern()
        doc.set_text_color(90, 150, 60)
        doc.set_xy(x0 + w + 1, y_ref - 1.5)
        doc.cell(14, 3, f"{reference.normalize():f} %")
        doc.set_text_color(0)
    doc.set_draw_color(200, 60, 40)
    doc.set_line_width(0.5)
    for a, b in zip(points, points[1:]):
        doc.line(*a, *b)
    for x, y in points:
        doc.circle(x, y, 0.8, style="D") if hasattr(doc, "circle") else doc.ellipse(x - 0.8, y - 0.8, 1.6, 1.6)
    doc.set_line_width(0.2)
    doc.set_draw_color(0)
    doc.set_xy(doc.l_margin, y0 + h + 5)


def producer_statement_pdf(fortnight: Fortnight, producer: str, lang: str = "es",
                           names: Mapping[str, str] | None = None) -> bytes:
    """The producer's printable statement: the same lines as the text one (`statement_view`),
    plus the chart of litres and TS with the reference TS line."""
    check_language(lang)
    row = fortnight.row(producer)
    pricing, period = fortnight.pricing, fortnight.period
    view = statement_view(fortnight, row, lang, names)
    doc = _Doc()
    if pricing.association:
        doc.text_line(pricing.association, size=12, bold=True)
    doc.text_line(text("statement_title", lang, period=period), size=13, bold=True, h=7)
    doc.text_line(text("period_dates", lang, first=format_date(period.first_day(), lang),
                       last=format_date(period.last_day(), lang), timezone=pricing.timezone.key))
    doc.text_line(producer_heading(row, lang, names), bold=True)
    doc.ln(2)
    if view.lines:
        with_codes = any(line.code for line in view.lines)
        table = [statement_delivery_header(lang, pricing.scheme.unit, with_codes)]
        table += [statement_delivery_cells(line, with_codes) for line in view.lines]
        # date, time, litres, TS, price, value, (gap) price detail, [code], notes: 180 mm
        widths = [18, 10, 15, 12, 16, 17, 36] + ([26, 30] if with_codes else [56])
        doc.table(table, widths, left=statement_text_columns(with_codes), size=7.5, gap_before=6)
    else:
        doc.text_line(text("no_deliveries", lang))
    doc.ln(1)
    doc.rich_text(text("rule_label", lang, rule=view.rule), size=9)
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    doc.ln(1)
    doc.text_line(text("summary", lang, deliveries=row.deliveries, rejected=row.rejected,
                       liters=format_2dp(row.liters), solids=solids), size=9)
    if row.lines:
        title = text("pdf_chart", lang)
        reference = getattr(pricing.scheme, "reference_solids_pct", None)
        if reference is not None:
            title += "; " + text("pdf_chart_reference", lang, ref=f"{reference.normalize():f}")
        _chart(doc, row, fortnight, title)
    doc.ln(2)
    if view.due_items:
        doc.text_line(text("due_title", lang), bold=True, size=9)
        for label, amount in view.due_items:
            doc.set_font("Helvetica", size=9)
            doc.cell(140, 5, _latin1("  " + label))
            doc.cell(30, 5, format_2dp(amount), align="R", new_x="LMARGIN", new_y="NEXT")
        doc.ln(1)
    for label, amount, bold in statement_money_lines(fortnight, row, view, lang):
        doc.set_font("Helvetica", "B" if bold else "", 10)
        doc.cell(140, 6, _latin1(label))
        doc.cell(30, 6, format_2dp(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("Helvetica", "I", 7)
    doc.multi_cell(0, 3.5, _latin1(text("exact_note", lang)))
    return bytes(doc.output())


def summary_pdf(fortnight: Fortnight, lang: str = "es", names: Mapping[str, str] | None = None) -> bytes:
    """The association's summary: one line per producer and the TOTAL, as statements.csv."""
    check_language(lang)
    doc = _Doc(orientation="L" if names is not None else "P")
    if fortnight.pricing.association:
        doc.text_line(fortnight.pricing.association, size=12, bold=True)
    doc.text_line(text("pdf_summary_title", lang, period=fortnight.period), size=13, bold=True, h=7)
    period = fortnight.period
    doc.text_line(text("table_title", lang, period=period, first=format_date(period.first_day(), lang),
                       last=format_date(period.last_day(), lang), currency=fortnight.pricing.currency))
    rows = [table_header(lang, names)] + [table_cells(str(period), r, names)
                                          for r in (*fortnight.rows, fortnight.total)]
    widths = [24, 14, 16, 18, 12, 18, 16, 18, 22, 18]
    if names is not None:
        widths = widths[:1] + [70] + widths[1:]
    doc.table(rows, widths, left=(0, 1) if names is not None else (0,), size=7, bold_last=True)
    doc.ln(2)
    doc.rich_text(text("rule_label", lang, rule=rule_sentence(fortnight.pricing, lang)), size=8)
    return bytes(doc.output())


def planilla_pdf(fortnight: Fortnight, lang: str = "es", names: Mapping[str, str] | None = None) -> bytes:
    """The pay sheet (planilla de pagos) producers sign when paid: the association and period,
    one row per producer (number, code, name, accepted litres, net) with a signature box,
    and the totals at the foot (as statements.csv's TOTAL)."""
    check_language(lang)
    pricing, period = fortnight.pricing, fortnight.period
    doc = _Doc()
    if pricing.association:
        doc.text_line(pricing.association, size=13, bold=True, h=7)
    doc.text_line(text("planilla_title", lang), size=13, bold=True, h=7)
    doc.text_line(text("table_title", lang, period=period, first=format_date(period.first_day(), lang),
                       last=format_date(period.last_day(), lang), currency=pricing.currency))
    doc.ln(3)
    widths = [10, 22, 62, 24, 24, 38]
    heads = ["#", text("col_producer", lang), text("col_name", lang), text("col_liters", lang),
             text("planilla_net", lang, currency=pricing.currency), text("planilla_signature", lang)]
    row_h = 11

    def header() -> None:
        doc.set_font("Helvetica", "B", 9)
        for i, (head, width) in enumerate(zip(heads, widths)):
            doc.cell(width, 7, _latin1(head), border=1, align="C" if i in (0, 5) else ("L" if i < 3 else "R"),
                     fill=False)
        doc.ln(7)

    header()
    doc.set_font("Helvetica", "", 9)
    for number, row in enumerate(fortnight.rows, start=1):
        if doc.get_y() + row_h > doc.h - doc.b_margin - 20:
            doc.add_page()
            header()
            doc.set_font("Helvetica", "", 9)
        name = (names or {}).get(row.producer, "")
        cells = [str(number), row.producer, name, format_2dp(row.liters), format_2dp(row.net), ""]
        for i, (cell, width) in enumerate(zip(cells, widths)):
            doc.cell(width, row_h, _latin1(cell), border=1, align="C" if i == 0 else ("L" if i < 3 else "R"))
        doc.ln(row_h)
    total = fortnight.total
    doc.set_font("Helvetica", "B", 9)
    doc.cell(sum(widths[:3]), 8, _latin1(text("planilla_total", lang, count=len(fortnight.rows))), border=1)
    doc.cell(widths[3], 8, format_2dp(total.liters), border=1, align="R")
    doc.cell(widths[4], 8, format_2dp(total.net), border=1, align="R")
    doc.cell(widths[5], 8, "", border=1)
    doc.ln(16)
    doc.set_font("Helvetica", "", 9)
    doc.cell(85, 5, _latin1("_" * 34))
    doc.cell(85, 5, _latin1("_" * 34), new_x="LMARGIN", new_y="NEXT")
    doc.cell(85, 5, _latin1(text("planilla_treasurer", lang)))
    doc.cell(85, 5, _latin1(text("planilla_president", lang)), new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def reconciliation_pdf(rec: Reconciliation, lang: str = "es") -> bytes:
    """The reconciliation with the buyer: the table, the alerts, then each producer's litres and gross."""
    check_language(lang)
    rows, notes = reconciliation_rows(rec, lang)
    doc = _Doc()
    doc.text_line(text("reconcile_title", lang, period=rec.period), size=13, bold=True, h=7)
    doc.text_line(text("reconcile_convention", lang), size=8)
    doc.ln(2)
    doc.table(rows, [60, 28, 28, 28, 20], size=9)
    doc.ln(3)
    for note in notes:
        doc.text_line(note, bold=note.startswith(("ALERT", "ALERTA")))
    producers = reconciliation_producer_rows(rec, lang)
    if producers:
        doc.ln(3)
        doc.table(producers, [24, 90, 30, 30], left=(0, 1), size=8, bold_last=True)
    return bytes(doc.output())
