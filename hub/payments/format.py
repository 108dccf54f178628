"""How the payment outputs print: texts, dates, aligned tables and the cells shared by several outputs.

Used by the text statements (`statements`), the reconciliation
(`reconcile`) and the printable ones (`pdf`), so that a statement row, a
delivery's notes or a due installment read the same everywhere. Every text
comes from the i18n catalog of the ``payments`` domain
(`milk_common/locale/{es,en}/LC_MESSAGES/payments.po`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from hub.payments.engine import DeliveryLine, ProducerRow
from hub.payments.errors import PaymentsError
from hub.payments.money import format_2dp
from milk_common.i18n import LANGUAGES, catalog, translate

DOMAIN = "payments"

# The columns of the console table and the summary PDF (statements.csv without its period).
TABLE_COLUMNS = ("producer", "deliveries", "rejected", "liters", "solids", "gross", "fees", "deductions",
                 "carried_over", "net")


def text(key: str, lang: str, **values: object) -> str:
    """The payments text ``key`` in ``lang`` with ``values`` filled in."""
    return translate(DOMAIN, key, lang, **values)


def _text_or(key: str, default: str, lang: str) -> str:
    """The text ``key`` when the catalog has it, else ``default`` (codes from other systems)."""
    return catalog(DOMAIN, lang).get(key, default)


def check_language(lang: str) -> str:
    """``lang`` if statements can be written in it; PaymentsError otherwise."""
    if lang not in LANGUAGES:
        raise PaymentsError(f"language {lang!r} not available (choose one of: {', '.join(LANGUAGES)})")
    return lang


def format_date(day: date, lang: str) -> str:
    """A calendar day as the language writes it (``15/11/2026``, ``2026-11-15``)."""
    return day.strftime(text("date_format", lang))


def align(rows: Sequence[Sequence[str]], left: Collection[int] = (0,)) -> list[str]:
    """Lines of a text table: columns numbered in ``left`` left-aligned, numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def statement_cells(period: str, row: ProducerRow) -> list[str | int]:
    """One row of statements.csv (contracts.md): period, producer, counts, then amounts to two decimals."""
    return [
        period,
        row.producer,
        row.deliveries,
        row.rejected,
        format_2dp(row.liters),
        "" if row.avg_solids_pct is None else format_2dp(row.avg_solids_pct),
        format_2dp(row.gross),
        format_2dp(row.fees),
        format_2dp(row.deductions),
        format_2dp(row.carried_over),
        format_2dp(row.net),
    ]


def table_header(lang: str, names: Mapping[str, str] | None = None) -> list[str]:
    """The translated headings of `TABLE_COLUMNS` (with the registry: a name after the producer)."""
    heads = [text(f"col_{name}", lang) for name in TABLE_COLUMNS]
    return heads[:1] + [text("col_name", lang)] + heads[1:] if names is not None else heads


def table_cells(period: str, row: ProducerRow, names: Mapping[str, str] | None = None) -> list[str]:
    """A row of the console table or summary PDF: the statements.csv cells without the period, ``-`` for none
    (with the registry: the producer's name after the code, empty for TOTAL or an unknown code)."""
    cells = [str(cell) or "-" for cell in statement_cells(period, row)[1:]]
    return cells[:1] + [names.get(row.producer, "")] + cells[1:] if names is not None else cells


def reason_words(code: str | None, lang: str) -> str:
    """A station's reject reason code in the producer's words (an unknown code as it is)."""
    return _text_or(f"reason_{code}", code, lang) if code else ""


def line_notes(line: DeliveryLine, lang: str) -> list[str]:
    """What a statement says beside a delivery: rejected (why), chilled."""
    notes = []
    if not line.accepted:
        notes.append(text("rejected", lang) + (f": {reason_words(line.reject_reason, lang)}"
                                              if line.reject_reason else ""))
    if line.chilled:
        notes.append(text("chilled", lang))
    return notes


def due_items(row: ProducerRow, lang: str) -> list[list[str]]:
    """The lines under "due this fortnight": the balance carried in, then each installment, with amounts."""
    items = []
    if row.carried_in:
        items.append(["  " + text("carried_in", lang), format_2dp(row.carried_in)])
    for charge in row.charges:
        kind = _text_or(f"kind_{charge.kind.lower()}", charge.kind, lang)
        label = text("installment", lang, kind=kind, number=charge.installment, count=charge.installments,
                     first_period=charge.first_period)
        items.append(["  " + label, format_2dp(charge.amount)])
    return items
