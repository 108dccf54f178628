"""`milk-hub payments --csv-only`: the fortnight as columns, for a whole basin in seconds.

The shell around `hub.payments.columnar` (the command line's other steps are
`hub.cli.cmd_payments`'s): read the deliveries as columns (InfluxDB in CSV
chunks, `hub.store.columns`; or the deliveries CSV through its validating
reader), compute, check, and write statements.csv, lines.csv,
statements.txt and warnings.txt only. With ``--ledger`` (adjustments and
closing need every delivery as a record), a scheme that does not say it can
be vectorised or values beyond 64-bit integers, the per-delivery path
computes and the same files are written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from milk_common.errors import UserError

log = logging.getLogger(__name__)


def columns_fortnight(args: argparse.Namespace, lang: str):
    """(period, pricing, advances, fortnight, None, columns, priced), or None when these inputs
    need the per-delivery path (`hub.cli._fortnight`)."""
    from hub.payments.columnar import (
        NotColumnar,
        columns_from_deliveries,
        compute_columns,
        refusal,
    )
    from hub.payments.periods import Period
    from hub.payments.pricing import load_pricing
    from hub.payments.records import read_advances_csv, read_deliveries_csv

    _give_back_freed_arrays()
    period = Period.parse(args.period)
    pricing = load_pricing(args.pricing)
    why = refusal(pricing)
    if why:
        log.info("payments: per-delivery path (%s)", why)
        return None
    advances = read_advances_csv(args.advances) if args.advances else []
    try:
        if args.deliveries:
            columns = columns_from_deliveries(read_deliveries_csv(args.deliveries), period, pricing.timezone)
        else:
            columns = _influx_columns(args, period, pricing.zone, lang)
        fortnight, priced = compute_columns(period, columns, pricing, advances)
    except NotColumnar as exc:
        log.info("payments: per-delivery path (%s)", exc)
        return None
    return period, pricing, advances, fortnight, None, columns, priced


def _give_back_freed_arrays() -> None:
    """Large allocations (numpy arrays) from mmap, returned to the system when freed.

    glibc raises its mmap threshold up to 32 MB after the first large free, so
    that later arrays come from the heap, whose freed holes a process keeps:
    the read's temporary columns would then stay in the peak memory. Fixing
    the threshold (M_MMAP_THRESHOLD, 128 KiB) keeps the peak at what is alive
    (about 30 MB less for a basin). Not glibc: nothing to do.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _influx_columns(args: argparse.Namespace, period, zone, lang: str):
    from hub.config import load_hub_config
    from hub.payments.format import text as payments_text
    from hub.store.columns import period_columns
    from hub.store.influx import InfluxError, InfluxV1
    from milk_common.i18n import choose_language

    config = load_hub_config(args.config)
    ic = config.influx
    influx = InfluxV1.from_config(ic)
    try:
        return period_columns(influx, period, zone, ic.query_chunk_size, progress=sys.stderr.isatty())
    except InfluxError as exc:
        raise UserError(payments_text("cli_influx_unreadable", choose_language(lang, getattr(config, "language", None)),
                                      reason=exc)) from None


def findings(lean, fortnight, advances, known, lang: str):
    """The sanity checks: on the columns when the fortnight came from them."""
    if lean is not None:
        from hub.payments.columnar import check_columns
        return check_columns(fortnight, lean[5], lean[6], advances, known, lang)
    from hub.payments.checks import check_fortnight
    return check_fortnight(fortnight, advances, known, lang)


def write_csv_only(out_dir: Path, fortnight, lean, lang: str, names: Mapping[str, str] | None,
                   warnings: Sequence[str], csv_locale: str | None) -> None:
    """statements.csv, lines.csv, statements.txt, warnings.txt (and statements-LOCALE.csv) in ``out_dir``."""
    from hub.payments.columnar import lines_csv_chunks, write_csv_outputs
    from hub.payments.explain import lines_csv_text
    from hub.payments.localecsv import localized_csv_text, localized_file_name
    from hub.payments.statements import statements_csv_text

    extra = {}
    if csv_locale:
        extra[localized_file_name(csv_locale)] = localized_csv_text(statements_csv_text(fortnight, names), csv_locale)
    if lean is not None:
        lines = lines_csv_chunks(fortnight, lean[5], lean[6], names)
    else:
        lines = [lines_csv_text(fortnight, names).encode("utf-8")]
    write_csv_outputs(out_dir, fortnight, lines, lang=lang, names=names, warnings=warnings, extra_files=extra,
                      priced=lean[6] if lean is not None else None)
