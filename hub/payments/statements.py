"""Statement outputs of a computed fortnight: the CSV, the console table, one printable page per producer.

What producers and officers read is in Spanish by default (``lang="en"``
for English); the texts are in the i18n catalog of the ``payments`` domain
(see `hub.payments.format`). File and column names of statements.csv are
fixed by contracts.md and are not translated. The PDF statements are drawn
by `hub.payments.pdf`; `hub.payments.report` hands them to `write_outputs`
so that all outputs are swapped into place together.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hub.payments.engine import Fortnight
from hub.payments.errors import PaymentsError
from hub.payments.files import write_text_atomic
from hub.payments.format import (
    align,
    check_language,
    due_items,
    format_date,
    line_notes,
    statement_cells,
    table_cells,
    table_header,
    text,
)
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


def statements_csv_text(fortnight: Fortnight) -> str:
    """statements.csv as text: the contract's columns, producer rows, then TOTAL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    period = str(fortnight.period)
    for row in (*fortnight.rows, fortnight.total):
        writer.writerow(statement_cells(period, row))
    return buffer.getvalue()


def write_statements_csv(path: Path | str, fortnight: Fortnight) -> None:
    """Write statements.csv (contracts.md) to ``path``, replacing it in one rename."""
    write_text_atomic(path, statements_csv_text(fortnight))


def render_table(fortnight: Fortnight, lang: str = "es") -> str:
    """The fortnight as an aligned text table for the console, with the TOTAL row."""
    check_language(lang)
    period = fortnight.period
    body = [table_cells(str(period), row) for row in (*fortnight.rows, fortnight.total)]
    table = align([table_header(lang), *body])
    rule = "-" * max(len(line) for line in table)
    title = text(
        "table_title",
        lang,
        period=period,
        first=format_date(period.first_day(), lang),
        last=format_date(period.last_day(), lang),
        currency=fortnight.pricing.currency,
    )
    lines = [title, "", table[0], rule, *table[1:-1], rule, table[-1]]
    if fortnight.outside_period:
        lines += ["", text("outside_period", lang, count=fortnight.outside_period)]
    return "\n".join(lines) + "\n"


def render_producer_statement(fortnight: Fortnight, producer: str, lang: str = "es") -> str:
    """A producer's printable statement: each delivery, then gross, fees, deductions and net.

    Meant to be checked against the producer's receipts: local date and time,
    litres, TS as rounded for pricing, price per litre and exact value of
    each delivery; rejected ones with their reason.
    """
    check_language(lang)
    row = fortnight.row(producer)
    pricing = fortnight.pricing
    period = fortnight.period
    currency = pricing.currency
    lines: list[str] = []
    if pricing.association:
        lines.append(pricing.association)
    lines += [
        text("statement_title", lang, period=period),
        text(
            "period_dates",
            lang,
            first=format_date(period.first_day(), lang),
            last=format_date(period.last_day(), lang),
            timezone=pricing.timezone.key,
        ),
        text("producer_label", lang, producer=row.producer),
        "",
    ]

    if row.lines:
        table = [[text(f"col_{name}", lang) for name in ("date", "time", "liters", "solids", "price", "value", "note")]]
        for line in row.lines:
            table.append(
                [
                    format_date(line.ts.date(), lang),
                    line.ts.strftime("%H:%M"),
                    format_plain(line.liters),
                    "-" if line.solids_pct is None else format_plain(line.solids_pct),
                    format_plain(line.price_per_liter) if line.accepted else "-",
                    format_plain(line.value),
                    "; ".join(line_notes(line, lang)),
                ]
            )
        lines += align(table, left=(0, 1, 6))
    else:
        lines.append(text("no_deliveries", lang))
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    lines += [
        "",
        text("summary", lang, deliveries=row.deliveries, rejected=row.rejected, liters=format_2dp(row.liters),
             solids=solids),
        "",
    ]

    if row.due:
        lines.append(text("due_title", lang))
        lines += align(due_items(row, lang))
        lines.append("")

    summary = [
        [text("gross", lang, currency=currency), format_2dp(row.gross)],
        [text("fees", lang, rate=format_plain(pricing.contribution_per_liter), currency=currency),
         format_2dp(row.fees)],
        [text("deductions", lang), format_2dp(row.deductions)],
        [text("net", lang, currency=currency), format_2dp(row.net)],
    ]
    if row.carried_over:
        summary.append([text("carried_over", lang), format_2dp(row.carried_over)])
    lines += align(summary)
    lines += ["", text("exact_note", lang)]
    return "\n".join(lines) + "\n"


def _statement_file_name(producer: str) -> str:
    """``<producer>.txt``; refuse ids that would escape the statements folder."""
    if not producer or producer.startswith(".") or any(c in producer for c in "/\\\0"):
        raise PaymentsError(f"producer id {producer!r} cannot be used as a file name for its statement")
    return f"{producer}.txt"


OUTPUT_NAMES = ("statements", "statements.txt", "statements.pdf", "statements.csv")


def write_outputs(
    out_dir: Path | str,
    fortnight: Fortnight,
    lang: str = "es",
    producer_pdfs: Mapping[str, bytes] | None = None,
    summary_pdf: bytes | None = None,
) -> None:
    """Write ``statements.csv``, ``statements.txt`` and ``statements/<producer>.txt`` in ``out_dir``;
    given the rendered PDFs (``producer_pdfs`` by producer, and the association's ``summary_pdf``;
    see `hub.payments.report`) also ``statements/<producer>.pdf`` and ``statements.pdf``.

    Everything is rendered first and written into a hidden staging folder in
    ``out_dir``, then swapped into place by renames; if any step fails the
    previous outputs (or none) are put back, so that a failure never leaves
    a partial or mixed set. Statements of producers absent from this
    fortnight do not survive from an earlier run.
    """
    out_dir = Path(out_dir)
    pdf = summary_pdf is not None
    if pdf != (producer_pdfs is not None):
        raise ValueError("give both the producers' PDFs and the summary PDF, or neither")
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
        pdfs = {name[:-4] + ".pdf": producer_pdfs[row.producer] for name, row in zip(producer_pages, fortnight.rows)}
        pdfs["../statements.pdf"] = summary_pdf
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".statements-", dir=out_dir))
    except OSError as exc:
        raise PaymentsError(f"{out_dir}: cannot write statements: {exc.strerror or exc}") from None
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
        raise PaymentsError(f"{out_dir}: cannot write statements: {exc.strerror or exc}") from None
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
