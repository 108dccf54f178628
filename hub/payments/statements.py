"""Statement outputs of a computed fortnight: the CSV, the console table, one printable page per producer.

What producers and officers read is in Spanish by default (``lang="en"``
for English); every such text is in `TEXTS`. File and column names of
statements.csv are fixed by contracts.md and are not translated.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path

from hub.errors import UserError
from hub.payments.engine import Fortnight, ProducerRow
from hub.payments.files import write_text_atomic
from hub.payments.money import format_2dp, format_plain

STATEMENT_COLUMNS = (
    "period",
    "producer",
    "deliveries",
    "rejected",
    "liters",
    "avg_solids_pct",
    "gross",
    "fees",
    "deductions",
    "carried_over",
    "net",
)

TEXTS: dict[str, dict[str, str | dict[str, str]]] = {
    "es": {
        "date_format": "%d/%m/%Y",
        "title": "LIQUIDACIÓN QUINCENAL {period}",
        "period_dates": "Del {first} al {last} (hora de {timezone})",
        "table_title": "Quincena {period}: del {first} al {last}, importes en {currency}",
        "outside_period": "{count} entrega(s) fuera de la quincena no se consideraron.",
        "producer_label": "Productor: {producer}",
        "col_producer": "Productor",
        "col_deliveries": "Entregas",
        "col_rejected": "Rechazadas",
        "col_liters": "Litros",
        "col_solids": "ST %",
        "col_gross": "Bruto",
        "col_fees": "Aporte",
        "col_deductions": "Descuentos",
        "col_carried_over": "Saldo pendiente",
        "col_net": "Neto",
        "col_date": "Fecha",
        "col_time": "Hora",
        "col_price": "Precio/L",
        "col_value": "Valor",
        "col_note": "Observación",
        "no_deliveries": "Sin entregas en esta quincena.",
        "rejected": "rechazada",
        "chilled": "leche fría",
        "summary": "Entregas: {deliveries} ({rejected} rechazadas). Litros aceptados: {liters}. ST promedio: {solids}",
        "gross": "Bruto ({currency})",
        "fees": "(-) Aporte a la asociación ({rate} {currency}/L)",
        "deductions": "(-) Descuentos",
        "net": "(=) Neto a pagar ({currency})",
        "due_title": "Por descontar en esta quincena:",
        "carried_in": "Saldo pendiente de quincenas anteriores",
        "installment": "{kind}, cuota {number} de {count} (desde {first_period})",
        "carried_over": "Saldo pendiente (pasa a la próxima quincena)",
        "exact_note": "El valor de cada entrega es exacto (litros × precio); el bruto se redondea una sola vez al céntimo.",
        "kinds": {"feed": "alimento", "veterinary": "veterinario", "other": "otro"},
    },
    "en": {
        "date_format": "%Y-%m-%d",
        "title": "FORTNIGHT STATEMENT {period}",
        "period_dates": "From {first} to {last} ({timezone} time)",
        "table_title": "Fortnight {period}: {first} to {last}, amounts in {currency}",
        "outside_period": "{count} delivery(ies) outside the fortnight were not counted.",
        "producer_label": "Producer: {producer}",
        "col_producer": "Producer",
        "col_deliveries": "Deliveries",
        "col_rejected": "Rejected",
        "col_liters": "Liters",
        "col_solids": "TS %",
        "col_gross": "Gross",
        "col_fees": "Fees",
        "col_deductions": "Deductions",
        "col_carried_over": "Carried over",
        "col_net": "Net",
        "col_date": "Date",
        "col_time": "Time",
        "col_price": "Price/L",
        "col_value": "Value",
        "col_note": "Note",
        "no_deliveries": "No deliveries in this fortnight.",
        "rejected": "rejected",
        "chilled": "chilled",
        "summary": "Deliveries: {deliveries} ({rejected} rejected). Accepted liters: {liters}. Average TS: {solids}",
        "gross": "Gross ({currency})",
        "fees": "(-) Association fee ({rate} {currency}/L)",
        "deductions": "(-) Deductions",
        "net": "(=) Net to pay ({currency})",
        "due_title": "Due for deduction this fortnight:",
        "carried_in": "Balance carried from earlier fortnights",
        "installment": "{kind}, installment {number} of {count} (from {first_period})",
        "carried_over": "Balance carried over (to the next fortnight)",
        "exact_note": "Each delivery's value is exact (liters × price); the gross is rounded once to the cent.",
        "kinds": {"feed": "feed", "veterinary": "veterinary", "other": "other"},
    },
}


# Reject reason codes from the stations (collector_station/i18n.py REASONS),
# in the producer's words on the statement.
REASON_WORDS = {
    "es": {"alcohol_positive": "prueba de alcohol positiva", "organoleptic_fail": "olor, color o consistencia anormal",
           "acidity_high": "acidez sobre el límite", "solids_below_floor": "sólidos bajo el mínimo",
           "operator_reject": "rechazada por el operador", "void": "anulada"},
    "en": {"alcohol_positive": "alcohol test positive", "organoleptic_fail": "abnormal smell, colour or consistency",
           "acidity_high": "acidity above the limit", "solids_below_floor": "solids below the floor",
           "operator_reject": "rejected by the operator", "void": "voided"},
}


def reason_words(lang: str, code: str | None) -> str:
    return REASON_WORDS.get(lang, {}).get(code or "", code or "")


def line_notes(line, t: dict, lang: str) -> list[str]:
    """What a statement says beside a delivery: rejected (why), chilled."""
    notes = []
    if not line.accepted:
        notes.append(t["rejected"] + (f": {reason_words(lang, line.reject_reason)}"
                                      if line.reject_reason else ""))
    if line.chilled:
        notes.append(t["chilled"])
    return notes


def _texts(lang: str) -> dict:
    try:
        return TEXTS[lang]
    except KeyError:
        raise UserError(f"language {lang!r} not available (choose one of: {', '.join(TEXTS)})") from None


def _csv_row(period: str, row: ProducerRow) -> list[str | int]:
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


def statements_csv_text(fortnight: Fortnight) -> str:
    """statements.csv as text: the contract's columns, producer rows, then TOTAL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    period = str(fortnight.period)
    for row in (*fortnight.rows, fortnight.total):
        writer.writerow(_csv_row(period, row))
    return buffer.getvalue()


def write_statements_csv(path: Path | str, fortnight: Fortnight) -> None:
    """Write statements.csv (contracts.md) to ``path``, replacing it in one rename."""
    write_text_atomic(path, statements_csv_text(fortnight))


def _align(rows: Sequence[Sequence[str]], left: Collection[int] = (0,)) -> list[str]:
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


def _date(day: date, texts: dict) -> str:
    return day.strftime(texts["date_format"])


def render_table(fortnight: Fortnight, lang: str = "es") -> str:
    """The fortnight as an aligned text table for the console, with the TOTAL row."""
    t = _texts(lang)
    period = fortnight.period
    header = [
        t[f"col_{name}"]
        for name in ("producer", "deliveries", "rejected", "liters", "solids", "gross", "fees", "deductions", "carried_over", "net")
    ]
    body = [_csv_row(str(period), row)[1:] for row in (*fortnight.rows, fortnight.total)]
    table = _align([header, *([str(cell) or "-" for cell in row] for row in body)])
    rule = "-" * max(len(line) for line in table)
    title = t["table_title"].format(
        period=period,
        first=_date(period.first_day(), t),
        last=_date(period.last_day(), t),
        currency=fortnight.pricing.currency,
    )
    lines = [title, "", table[0], rule, *table[1:-1], rule, table[-1]]
    if fortnight.outside_period:
        lines += ["", t["outside_period"].format(count=fortnight.outside_period)]
    return "\n".join(lines) + "\n"


def render_producer_statement(fortnight: Fortnight, producer: str, lang: str = "es") -> str:
    """A producer's printable statement: each delivery, then gross, fees, deductions and net.

    Meant to be checked against the producer's receipts: local date and time,
    litres, TS as rounded for pricing, price per litre and exact value of
    each delivery; rejected ones with their reason.
    """
    t = _texts(lang)
    row = fortnight.row(producer)
    pricing = fortnight.pricing
    period = fortnight.period
    currency = pricing.currency
    lines: list[str] = []
    if pricing.association:
        lines.append(pricing.association)
    lines += [
        t["title"].format(period=period),
        t["period_dates"].format(
            first=_date(period.first_day(), t), last=_date(period.last_day(), t), timezone=pricing.timezone.key
        ),
        t["producer_label"].format(producer=row.producer),
        "",
    ]

    if row.lines:
        table = [[t[f"col_{name}"] for name in ("date", "time", "liters", "solids", "price", "value", "note")]]
        for line in row.lines:
            notes = line_notes(line, t, lang)
            table.append(
                [
                    _date(line.ts.date(), t),
                    line.ts.strftime("%H:%M"),
                    format_plain(line.liters),
                    "-" if line.solids_pct is None else format_plain(line.solids_pct),
                    format_plain(line.price_per_liter) if line.accepted else "-",
                    format_plain(line.value),
                    "; ".join(notes),
                ]
            )
        lines += _align(table, left=(0, 1, 6))
    else:
        lines.append(t["no_deliveries"])
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    lines += [
        "",
        t["summary"].format(
            deliveries=row.deliveries, rejected=row.rejected, liters=format_2dp(row.liters), solids=solids
        ),
        "",
    ]

    if row.due:
        lines.append(t["due_title"])
        items = []
        if row.carried_in:
            items.append(["  " + t["carried_in"], format_2dp(row.carried_in)])
        for charge in row.charges:
            kind = t["kinds"].get(charge.kind.lower(), charge.kind)
            label = t["installment"].format(
                kind=kind, number=charge.installment, count=charge.installments, first_period=charge.first_period
            )
            items.append(["  " + label, format_2dp(charge.amount)])
        lines += _align(items)
        lines.append("")

    summary = [
        [t["gross"].format(currency=currency), format_2dp(row.gross)],
        [t["fees"].format(rate=format_plain(pricing.contribution_per_liter), currency=currency), format_2dp(row.fees)],
        [t["deductions"], format_2dp(row.deductions)],
        [t["net"].format(currency=currency), format_2dp(row.net)],
    ]
    if row.carried_over:
        summary.append([t["carried_over"], format_2dp(row.carried_over)])
    lines += _align(summary)
    lines += ["", t["exact_note"]]
    return "\n".join(lines) + "\n"


def _statement_file_name(producer: str) -> str:
    """``<producer>.txt``; refuse ids that would escape the statements folder."""
    if not producer or producer.startswith(".") or any(c in producer for c in "/\\\0"):
        raise UserError(f"producer id {producer!r} cannot be used as a file name for its statement")
    return f"{producer}.txt"


OUTPUT_NAMES = ("statements", "statements.txt", "statements.pdf", "statements.csv")


def write_outputs(out_dir: Path | str, fortnight: Fortnight, lang: str = "es", pdf: bool = False) -> None:
    """Write ``statements.csv``, ``statements.txt`` and ``statements/<producer>.txt`` in ``out_dir``;
    with ``pdf`` also ``statements/<producer>.pdf`` and the association's ``statements.pdf``.

    Everything is rendered first and written into a hidden staging folder in
    ``out_dir``, then swapped into place by renames; if any step fails the
    previous outputs (or none) are put back, so that a failure never leaves
    a partial or mixed set. Statements of producers absent from this
    fortnight do not survive from an earlier run.
    """
    out_dir = Path(out_dir)
    contents = {
        "statements.csv": statements_csv_text(fortnight),
        "statements.txt": render_table(fortnight, lang),
    }
    producer_pages = {
        _statement_file_name(row.producer): render_producer_statement(fortnight, row.producer, lang)
        for row in fortnight.rows
    }
    pdfs: dict[str, bytes] = {}
    if pdf:
        from hub.payments.pdf import producer_statement_pdf, summary_pdf

        pdfs = {name[:-4] + ".pdf": producer_statement_pdf(fortnight, row.producer, lang)
                for name, row in zip(producer_pages, fortnight.rows)}
        pdfs["../statements.pdf"] = summary_pdf(fortnight, lang)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".statements-", dir=out_dir))
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write statements: {exc.strerror or exc}") from None
    try:
        # (mkdtemp makes `staging` private, but it is removed at the end: what
        # is moved out of it was created with the usual permissions.)
        (staging / "new" / "statements").mkdir(parents=True)
        for name, text in producer_pages.items():
            (staging / "new" / "statements" / name).write_text(text, encoding="utf-8")
        for name, text in contents.items():
            (staging / "new" / name).write_text(text, encoding="utf-8")
        for name, data in pdfs.items():
            (staging / "new" / "statements" / name).write_bytes(data)
        if not pdf:
            # an empty summary keeps the swap simple; removed again below
            (staging / "new" / "statements.pdf").write_bytes(b"")
        _swap_into_place(staging, out_dir)
        if not pdf:
            os.unlink(out_dir / "statements.pdf")
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write statements: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Move ``staging/new/*`` to ``out_dir``, keeping the old outputs in ``staging/old`` until done.

    Renames within one folder are cheap and atomic; on failure the ones done
    are undone in reverse order before the error goes on.
    """
    (staging / "old").mkdir()
    done: list[tuple[Path, Path]] = []
    try:
        for name in OUTPUT_NAMES:
            if (out_dir / name).exists():
                os.rename(out_dir / name, staging / "old" / name)
                done.append((out_dir / name, staging / "old" / name))
        for name in OUTPUT_NAMES:
            os.rename(staging / "new" / name, out_dir / name)
            done.append((staging / "new" / name, out_dir / name))
    except OSError:
        for source, target in reversed(done):
            with contextlib.suppress(OSError):
                os.rename(target, source)
        raise
