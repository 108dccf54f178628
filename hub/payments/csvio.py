"""Reading the payments' CSV files: rows as text, and typed fields with the reason a value is bad.

Shared by the deliveries and advances files (`records`) and the buyer's
statement (`reconcile`). A bad value raises `FieldError`; the reader of a
file adds the file and row, so that every message reads like
``deliveries.csv: row 7, field liters: negative value '-3'``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from hub.payments.errors import PaymentsError, Text
from hub.payments.money import parse_decimal

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class FieldError(Exception):
    """A bad value; the reader adds the file and row to the message (`row_error`)."""

    def __init__(self, field: str, reason: str | Text):
        self.text = Text("field", field=field, reason=reason)
        super().__init__(str(self.text))


def row_error(path: Path | str, row: int, error: FieldError) -> PaymentsError:
    """``deliveries.csv: row 7, field liters: negative value '-3'`` (worded in the reader's language)."""
    return PaymentsError(Text("row", path=path, row=row, detail=error.text))


def read_rows(path: Path | str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row number, {column: text})`` for each non-blank data row of a CSV.

    Values are stripped of surrounding blanks; optional columns that the
    file lacks are absent from the dict.
    """
    try:
        # utf-8-sig: spreadsheets on Windows start CSV files with a BOM.
        file = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PaymentsError(Text("cannot_read", path=path, reason=exc.strerror)) from None
    with file:
        reader = csv.reader(file)
        try:
            header = next(reader, None)
            if header is None:
                raise PaymentsError(Text("empty_file", path=path))
            header = [name.strip() for name in header]
            for index, name in enumerate(header):
                if name and name in header[:index]:
                    raise PaymentsError(Text("column_twice", path=path, name=repr(name)))
            missing = [name for name in required if name not in header]
            if missing:
                raise PaymentsError(Text("missing_columns", path=path, missing=", ".join(missing),
                                         required=", ".join(required)))
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                if len(row) < len(header) or any(cell.strip() for cell in row[len(header) :]):
                    raise PaymentsError(Text("field_count", path=path, row=reader.line_num,
                                             expected=len(header), found=len(row)))
                yield reader.line_num, {name: cell.strip() for name, cell in zip(header, row) if name}
        except csv.Error as exc:
            raise PaymentsError(Text("csv", path=path, row=reader.line_num, reason=str(exc))) from None
        except UnicodeDecodeError:
            # Decoding runs ahead of the csv reader, so no row number is exact here.
            raise PaymentsError(Text("not_utf8", path=path)) from None


def text_field(values: dict[str, str], field: str) -> str:
    """A required text cell (not empty)."""
    text = values[field]
    if not text:
        raise FieldError(field, Text("empty"))
    return text


def optional_text_field(values: dict[str, str], field: str) -> str | None:
    """A text cell that may be empty or absent (None)."""
    return values.get(field) or None


def decimal_field(
    values: dict[str, str], field: str, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal:
    """A required plain decimal, within ``minimum``..``maximum`` when given."""
    text = values[field]
    if not text:
        raise FieldError(field, Text("empty"))
    try:
        number = parse_decimal(text)
    except ValueError:
        raise FieldError(field, Text("not_decimal", value=repr(text))) from None
    if minimum is not None and number < minimum:
        if minimum == 0:
            raise FieldError(field, Text("negative", value=repr(text)))
        raise FieldError(field, Text("below", minimum=minimum, value=repr(text)))
    if maximum is not None and number > maximum:
        raise FieldError(field, Text("above", maximum=maximum, value=repr(text)))
    return number


def optional_decimal_field(
    values: dict[str, str], field: str, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal | None:
    """Like `decimal_field`, None when the cell is empty or absent."""
    if not values.get(field):
        return None
    return decimal_field(values, field, minimum, maximum)


def timestamp_field(values: dict[str, str], field: str) -> datetime:
    """An ISO 8601 time with its UTC offset (a naive time is refused)."""
    text = text_field(values, field)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(field, Text("not_iso_time", value=repr(text))) from None
    if ts.utcoffset() is None:
        raise FieldError(field, Text("no_offset", value=repr(text)))
    return ts


def boolean_field(values: dict[str, str], field: str) -> bool:
    """``true``/``false`` (any case) or ``1``/``0``."""
    text = values[field]
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise FieldError(field, Text("not_boolean", value=repr(text))) from None
