"""statements.csv for a spreadsheet set up for a country (``--csv-locale es_BO``).

The number format comes from Babel's locale data (CLDR), not from a guess:
the locale's decimal symbol replaces the point in every number; when that
symbol is a comma, the cells are separated by semicolons (as spreadsheets in
those countries expect). No digit grouping is written, so a cell is always
read as one number. statements.csv and lines.csv keep their own format;
this is an extra copy, ``statements-<LOCALE>.csv``.
"""

from __future__ import annotations

import csv
import io
import re

from hub.payments.errors import PaymentsError, Text

_NUMBER = re.compile(r"-?\d+\.\d+")
_LOCALE_NAME = re.compile(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,4})*")


def locale_number_format(name: str) -> tuple[str, str]:
    """``(decimal symbol, CSV delimiter)`` of locale ``name`` (``es_BO`` -> ``(",", ";")``).

    PaymentsError (worded in the reader's language) when Babel does not know the locale.
    """
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_decimal_symbol

    if not _LOCALE_NAME.fullmatch(name or ""):
        raise PaymentsError(Text("locale_name", value=repr(name)))
    try:
        locale = Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        raise PaymentsError(Text("locale_unknown", value=repr(name))) from None
    decimal = get_decimal_symbol(locale)
    return decimal, ";" if decimal == "," else ","


def localized_csv_text(csv_text: str, name: str) -> str:
    """``csv_text`` (comma-separated, decimal points) rewritten in locale ``name``'s number format."""
    decimal, delimiter = locale_number_format(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    for row in csv.reader(io.StringIO(csv_text)):
        writer.writerow([cell.replace(".", decimal) if _NUMBER.fullmatch(cell) else cell for cell in row])
    return buffer.getvalue()


def localized_file_name(name: str) -> str:
    return f"statements-{name}.csv"
