"""Writing the outputs of a fortnight and of a reconciliation, printable PDFs included.

The text outputs (`statements`, `reconcile`) do not know about PDFs; this
module draws them with `hub.payments.pdf` and hands them over, so that the
PDF writer depends on the others and never the other way round. fpdf2 is
imported only when PDFs are asked for: ``--no-pdf`` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hub.payments.engine import Fortnight
from hub.payments.files import write_bytes_atomic
from hub.payments.format import check_language
from hub.payments.localecsv import localized_csv_text, localized_file_name
from hub.payments.reconcile import Reconciliation, write_reconciliation_text
from hub.payments.statements import statements_csv_text, write_outputs


def write_statements(out_dir: Path | str, fortnight: Fortnight, lang: str = "es", pdf: bool = False,
                     names: Mapping[str, str] | None = None, warnings: Sequence[str] = (),
                     csv_locale: str | None = None) -> None:
    """`statements.write_outputs`, with ``pdf`` also each producer's PDF, the association's summary
    and the pay sheet (``planilla.pdf``); with ``csv_locale`` also ``statements-<LOCALE>.csv``.

    Everything is drawn before anything is written, so that a failure leaves
    the previous outputs in place (see `statements.write_outputs`).
    """
    check_language(lang)
    extra: dict[str, str | bytes] = {}
    if csv_locale:
        extra[localized_file_name(csv_locale)] = localized_csv_text(statements_csv_text(fortnight, names), csv_locale)
    if not pdf:
        write_outputs(out_dir, fortnight, lang, names=names, warnings=warnings, extra_files=extra)
        return
    from hub.payments.pdf import planilla_pdf, producer_statement_pdf, summary_pdf

    producer_pdfs = {row.producer: producer_statement_pdf(fortnight, row.producer, lang, names)
                     for row in fortnight.rows}
    extra["planilla.pdf"] = planilla_pdf(fortnight, lang, names)
    write_outputs(out_dir, fortnight, lang, producer_pdfs=producer_pdfs, summary_pdf=summary_pdf(fortnight, lang, names),
                  names=names, warnings=warnings, extra_files=extra)


def write_reconciliation(out_dir: Path, rec: Reconciliation, lang: str = "es", pdf: bool = True) -> None:
    """``reconciliation.csv``, ``reconciliation.txt`` and (``pdf``) ``reconciliation.pdf`` in ``out_dir``."""
    write_reconciliation_text(out_dir, rec, lang)
    if pdf:
        from hub.payments.pdf import reconciliation_pdf

        write_bytes_atomic(out_dir / "reconciliation.pdf", reconciliation_pdf(rec, lang))
