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
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from hub.payments.engine import Fortnight
from hub.payments.errors import PaymentsError, Text
from hub.payments.explain import lines_csv_text, producer_heading, statement_view
from hub.payments.files import staging_folder, write_text_atomic
from hub.payments.format import (
    align,
    check_language,
    format_date,
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


def statements_csv_text(fortnight: Fortnight, names: Mapping[str, str] | None = None) -> str:
    """statements.csv as text: the contract's columns, producer rows, then TOTAL.

    With ``names`` (code -> name, from the producer registry) a ``name`` column
    follows the contract's columns (empty for TOTAL and for a code the registry
    does not know); without it the file is exactly the contract's.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS + (("name",) if names is not None else ()))
    period = str(fortnight.period)
    for row in (*fortnight.rows, fortnight.total):
        cells = statement_cells(period, row)
        if names is not None:
            cells.append(names.get(row.producer, ""))
        writer.writerow(cells)
    return buffer.getvalue()


def write_statements_csv(path: Path | str, fortnight: Fortnight, names: Mapping[str, str] | None = None) -> None:
    """Write statements.csv (contracts.md) to ``path``, replacing it in one rename."""
    write_text_atomic(path, statements_csv_text(fortnight, names))


def render_table(fortnight: Fortnight, lang: str = "es", names: Mapping[str, str] | None = None) -> str:
    """The fortnight as an aligned text table for the console, with the TOTAL row."""
    check_language(lang)
    period = fortnight.period
    body = [table_cells(str(period), row, names) for row in (*fortnight.rows, fortnight.total)]
    table = align([table_header(lang, names), *body], left=(0, 1) if names is not None else (0,))
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


def statement_delivery_header(lang: str, unit: str, with_codes: bool) -> list[str]:
    """Headings of a statement's delivery table (text and PDF alike)."""
    price = text("col_price" if unit == "L" else f"col_price_{unit}", lang)
    heads = [text("col_date", lang), text("col_time", lang), text("col_liters", lang), text("col_solids", lang),
             price, text("col_value", lang), text("col_price_detail", lang)]
    if with_codes:
        heads.append(text("pdf_code", lang))
    return heads + [text("col_note", lang)]


def statement_delivery_cells(line, with_codes: bool) -> list[str]:
    """A delivery's cells under `statement_delivery_header`: the price's arithmetic after its value."""
    cells = [line.date, line.time, line.liters, line.solids, line.price, line.value, line.detail]
    if with_codes:
        cells.append(line.code)
    return cells + [line.notes]


# Columns of the delivery table that read left-aligned (text), the others being numbers.
def statement_text_columns(with_codes: bool) -> tuple[int, ...]:
    return (0, 1, 6, 7, 8) if with_codes else (0, 1, 6, 7)


def statement_money_lines(fortnight: Fortnight, row, view, lang: str) -> list[tuple[str, Decimal, bool]]:
    """The money lines from the deliveries to the net, as (label, amount, bold), text and PDF alike.

    They foot: deliveries + adjustments + owed + rounding = gross; gross - fees - deductions = net.
    """
    pricing = fortnight.pricing
    currency = pricing.currency
    money: list[tuple[str, Decimal, bool]] = [(text("deliveries_sum", lang), view.deliveries_sum, False)]
    for label, amount in view.adjustments:
        money.append((label, amount, False))
    if view.owed:
        money.append((text("owed_moved", lang), view.owed, False))
    if view.rounding:
        money.append((text("rounding", lang), view.rounding, False))
    money += [
        (text("gross", lang, currency=currency), row.gross, True),
        (text("fees", lang, rate=format_plain(pricing.contribution_per_liter), currency=currency), row.fees, False),
        (text("deductions", lang), row.deductions, False),
        (text("net", lang, currency=currency), row.net, True),
    ]
    if row.carried_over:
        money.append((text("carried_over", lang), row.carried_over, False))
    return money


def render_producer_statement(fortnight: Fortnight, producer: str, lang: str = "es",
                              names: Mapping[str, str] | None = None) -> str:
    """A producer's printable statement: the price rule, each delivery, adjustments, then gross,
    fees, deductions and net, money to the cent.

    Meant to be checked against the producer's receipts: local date and time,
    litres, TS as rounded for pricing, price per litre, value and receipt code
    of each delivery; rejected ones with their reason. The PDF
    (`hub.payments.pdf`) prints the same lines from the same `statement_view`.
    """
    check_language(lang)
    row = fortnight.row(producer)
    pricing = fortnight.pricing
    period = fortnight.period
    view = statement_view(fortnight, row, lang, names)
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
        producer_heading(row, lang, names),
        "",
    ]

    if view.lines:
        with_codes = any(line.code for line in view.lines)
        table = [statement_delivery_header(lang, pricing.scheme.unit, with_codes)]
        table += [statement_delivery_cells(line, with_codes) for line in view.lines]
        lines += align(table, left=statement_text_columns(with_codes))
    else:
        lines.append(text("no_deliveries", lang))
    lines += ["", text("rule_label", lang, rule=view.rule)]
    solids = "-" if row.avg_solids_pct is None else f"{format_2dp(row.avg_solids_pct)} %"
    lines += [
        "",
        text("summary", lang, deliveries=row.deliveries, rejected=row.rejected, liters=format_2dp(row.liters),
             solids=solids),
        "",
    ]

    if view.due_items:
        lines.append(text("due_title", lang))
        lines += align([["  " + label, format_2dp(amount)] for label, amount in view.due_items])
        lines.append("")

    lines += align([[label, format_2dp(amount)] for label, amount, _ in
                    statement_money_lines(fortnight, row, view, lang)])
    lines += ["", text("exact_note", lang)]
    return "\n".join(lines) + "\n"


def _statement_file_name(producer: str) -> str:
    """``<producer>.txt``; refuse ids that would escape the statements folder."""
    if not producer or producer.startswith(".") or any(c in producer for c in "/\\\0"):
        raise PaymentsError(Text("not_file_name", producer=repr(producer)))
    return f"{producer}.txt"


# Every output `write_outputs` manages: a run replaces them all together, and removes
# those it does not write this time (a PDF of an earlier run, an old locale CSV).
OUTPUT_NAMES = ("statements", "statements.txt", "statements.pdf", "statements.csv", "lines.csv",
                "warnings.txt", "planilla.pdf")
EXTRA_OUTPUT_GLOB = "statements-*.csv"  # --csv-locale copies


def write_outputs(
    out_dir: Path | str,
    fortnight: Fortnight,
    lang: str = "es",
    producer_pdfs: Mapping[str, bytes] | None = None,
    summary_pdf: bytes | None = None,
    names: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
    extra_files: Mapping[str, str | bytes] | None = None,
) -> None:
    """Write ``statements.csv``, ``statements.txt``, ``lines.csv``, ``warnings.txt`` (one
    warning a line, empty when there are none) and ``statements/<producer>.txt`` in ``out_dir``;
    given the rendered PDFs (``producer_pdfs`` by producer, and the association's ``summary_pdf``;
    see `hub.payments.report`) also ``statements/<producer>.pdf`` and ``statements.pdf``;
    ``extra_files`` (name -> content: ``planilla.pdf``, ``statements-es_BO.csv``) beside them.
    ``names`` (code -> name, from the registry) puts names on every statement.

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
    extra_files = dict(extra_files or {})
    for name in extra_files:
        if name not in OUTPUT_NAMES and not Path(name).match(EXTRA_OUTPUT_GLOB) or "/" in name:
            raise ValueError(f"{name!r} is not an output write_outputs manages")
    contents: dict[str, str | bytes] = {
        "statements.csv": statements_csv_text(fortnight, names),
        "statements.txt": render_table(fortnight, lang, names),
        "lines.csv": lines_csv_text(fortnight, names),
        "warnings.txt": "".join(f"{warning}\n" for warning in warnings),
        **extra_files,
    }
    if pdf:
        contents["statements.pdf"] = summary_pdf
    producer_pages = {
        _statement_file_name(row.producer): (render_producer_statement(fortnight, row.producer, lang, names=names)
                                             if names is not None else
                                             render_producer_statement(fortnight, row.producer, lang))
        for row in fortnight.rows
    }
    pdfs: dict[str, bytes] = {}
    if pdf:
        pdfs = {name[:-4] + ".pdf": producer_pdfs[row.producer] for name, row in zip(producer_pages, fortnight.rows)}
    staging = staging_folder(out_dir)
    try:
        # (mkdtemp makes `staging` private, but it is removed at the end: what
        # is moved out of it was created with the usual permissions.)
        (staging / "new" / "statements").mkdir(parents=True)
        for name, page in producer_pages.items():
            (staging / "new" / "statements" / name).write_text(page, encoding="utf-8")
        for name, content in contents.items():
            if isinstance(content, bytes):
                (staging / "new" / name).write_bytes(content)
            else:
                (staging / "new" / name).write_text(content, encoding="utf-8")
        for name, data in pdfs.items():
            (staging / "new" / "statements" / name).write_bytes(data)
        _swap_into_place(staging, out_dir)
    except OSError as exc:
        raise PaymentsError(Text("cannot_write", path=out_dir, reason=exc.strerror or exc)) from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Move ``staging/new/*`` to ``out_dir``, keeping the old outputs in ``staging/old`` until done.

    Every managed output present in ``out_dir`` is set aside first (so that
    one this run does not write is gone afterwards). Renames within one folder
    are cheap and atomic; on failure the ones done are undone in reverse order
    before the error goes on.
    """
    (staging / "old").mkdir()
    old_names = [name for name in OUTPUT_NAMES if (out_dir / name).exists()]
    old_names += sorted(p.name for p in out_dir.glob(EXTRA_OUTPUT_GLOB))
    new_names = sorted(p.name for p in (staging / "new").iterdir())
    done: list[tuple[Path, Path]] = []
    try:
        for name in old_names:
            os.rename(out_dir / name, staging / "old" / name)
            done.append((out_dir / name, staging / "old" / name))
        for name in new_names:
            os.rename(staging / "new" / name, out_dir / name)
            done.append((staging / "new" / name, out_dir / name))
    except OSError:
        for source, target in reversed(done):
            with contextlib.suppress(OSError):
                os.rename(target, source)
        raise


def closing_statement_files(out_dir: Path | str, fortnight: Fortnight, lang: str = "es",
                            names: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """The producers' printable statements a closing keeps in the ledger, {file name: content}:
    those this run wrote in ``out_dir/statements/`` (text, and PDF when drawn), and a text
    statement rendered now for each producer it wrote none for (``--csv-only``)."""
    folder = Path(out_dir) / "statements"
    files: dict[str, bytes] = {}
    for row in fortnight.rows:
        name = _statement_file_name(row.producer)
        for path in (folder / name, folder / (name[:-4] + ".pdf")):
            if path.is_file():
                files[path.name] = path.read_bytes()
        if name not in files:
            page = (render_producer_statement(fortnight, row.producer, lang, names=names) if names is not None
                    else render_producer_statement(fortnight, row.producer, lang))
            files[name] = page.encode("utf-8")
    return files


def write_closed_statements(out_dir: Path | str, files: Mapping[str, bytes]) -> None:
    """A closed period's printable statements as its ledger record keeps them, in
    ``out_dir/statements/``: that folder is replaced as a whole, so that no statement of
    another run stays beside them. Nothing is done when the record keeps none (a period
    closed before the ledger kept statements)."""
    if not files:
        return
    out_dir = Path(out_dir)
    staging = staging_folder(out_dir)
    try:
        (staging / "new").mkdir()
        for name, content in files.items():
            (staging / "new" / Path(name).name).write_bytes(content)
        if (out_dir / "statements").exists():
            os.rename(out_dir / "statements", staging / "old")
        try:
            os.rename(staging / "new", out_dir / "statements")
        except OSError:
            if (staging / "old").exists():
                os.rename(staging / "old", out_dir / "statements")
            raise
    except OSError as exc:
        raise PaymentsError(Text("cannot_write", path=out_dir, reason=exc.strerror or exc)) from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
