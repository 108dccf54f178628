"""Deliveries and advances: the plain records the payment engine works on, and their CSV files.

Both files are described in contracts.md. Reading checks every row and stops
at the first bad one with a `UserError` naming the file, the row (the line
number, the header being row 1) and the field, e.g.
``deliveries.csv: row 7, field liters: negative value '-3'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.errors import UserError
from hub.payments.files import write_text_atomic
from hub.payments.money import parse_decimal, round_half_up
from hub.payments.periods import Period

DELIVERY_REQUIRED = ("id", "producer", "ts", "liters", "solids_pct", "accepted")
DELIVERY_OPTIONAL = ("milk_temp_c", "center", "station", "weight_kg", "fat_pct", "reject_reason", "receipt_code")
DELIVERY_COLUMNS = DELIVERY_REQUIRED + DELIVERY_OPTIONAL
ADVANCE_COLUMNS = ("producer", "kind", "amount", "installments", "first_period")

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One can of milk taken (or refused) at a collection center's bench.

    ``ts`` is aware (with UTC offset); ``liters`` in L; ``solids_pct`` and
    ``fat_pct`` in %, ``solids_pct`` None only when the delivery was rejected
    before it was analysed; ``milk_temp_c`` at intake in °C; ``weight_kg``
    as weighed; ``receipt_code`` the verification code printed on the
    producer's receipt, when the station sends one.
    """

    id: str
    producer: str
    ts: datetime
    liters: Decimal
    solids_pct: Decimal | None
    accepted: bool
    milk_temp_c: Decimal | None = None
    center: str | None = None
    station: str | None = None
    weight_kg: Decimal | None = None
    fat_pct: Decimal | None = None
    reject_reason: str | None = None
    receipt_code: str | None = None


@dataclass(frozen=True, slots=True)
class Advance:
    """Money the association advanced to a producer (feed, veterinary, other).

    ``amount`` in currency with at most two decimals, deducted in
    ``installments`` (1 or 2) consecutive periods from ``first_period`` on.
    """

    producer: str
    kind: str
    amount: Decimal
    installments: int
    first_period: Period


class _FieldError(Exception):
    """A bad value; the reader adds the file and row to the message."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"field {field}: {reason}")


def _read_rows(path: Path | str, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row number, {column: text})`` for each non-blank data row of a CSV.

    Values are stripped of surrounding blanks; optional columns that the
    file lacks are absent from the dict.
    """
    try:
        # utf-8-sig: spreadsheets on Windows start CSV files with a BOM.
        file = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    with file:
        reader = csv.reader(file)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError(f"{path}: empty file (a header row is required)")
            header = [name.strip() for name in header]
            for index, name in enumerate(header):
                if name and name in header[:index]:
                    raise UserError(f"{path}: row 1: column {name!r} appears twice")
            missing = [name for name in required if name not in header]
            if missing:
                raise UserError(
                    f"{path}: row 1: missing column(s) {', '.join(missing)} "
                    f"(required: {', '.join(required)})"
                )
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                if len(row) < len(header) or any(cell.strip() for cell in row[len(header) :]):
                    raise UserError(
                        f"{path}: row {reader.line_num}: expected {len(header)} fields, found {len(row)}"
                    )
                yield reader.line_num, {name: cell.strip() for name, cell in zip(header, row) if name}
        except csv.Error as exc:
            raise UserError(f"{path}: row {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            # Decoding runs ahead of the csv reader, so no row number is exact here.
            raise UserError(f"{path}: not UTF-8 text (save the file as CSV UTF-8)") from None


def _text(values: dict[str, str], field: str) -> str:
    text = values[field]
    if not text:
        raise _FieldError(field, "empty")
    return text


def _optional_text(values: dict[str, str], field: str) -> str | None:
    return values.get(field) or None


def _decimal(
    values: dict[str, str], field: str, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal:
    text = values[field]
    if not text:
        raise _FieldError(field, "empty")
    try:
        number = parse_decimal(text)
    except ValueError as exc:
        raise _FieldError(field, str(exc)) from None
    if minimum is not None and number < minimum:
        reason = "negative value" if minimum == 0 else f"below {minimum}:"
        raise _FieldError(field, f"{reason} {text!r}")
    if maximum is not None and number > maximum:
        raise _FieldError(field, f"above {maximum}: {text!r}")
    return number


def _optional_decimal(
    values: dict[str, str], field: str, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Decimal | None:
    if not values.get(field):
        return None
    return _decimal(values, field, minimum, maximum)


def _timestamp(values: dict[str, str], field: str) -> datetime:
    text = _text(values, field)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise _FieldError(field, f"not an ISO 8601 time: {text!r}") from None
    if ts.utcoffset() is None:
        raise _FieldError(field, f"no UTC offset in {text!r} (write e.g. 2026-11-15T06:30:00-05:00)")
    return ts


def _boolean(values: dict[str, str], field: str) -> bool:
    text = values[field]
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise _FieldError(field, f"expected true or false, not {text!r}") from None


_PERCENT = (Decimal(0), Decimal(100))


def _delivery_from_row(values: dict[str, str]) -> Delivery:
    accepted = _boolean(values, "accepted")
    if accepted or values["solids_pct"]:
        solids_pct: Decimal | None = _decimal(values, "solids_pct", *_PERCENT)
    else:
        solids_pct = None  # rejected before analysis
    return Delivery(
        id=_text(values, "id"),
        producer=_text(values, "producer"),
        ts=_timestamp(values, "ts"),
        liters=_decimal(values, "liters", minimum=Decimal(0)),
        solids_pct=solids_pct,
        accepted=accepted,
        milk_temp_c=_optional_decimal(values, "milk_temp_c"),
        center=_optional_text(values, "center"),
        station=_optional_text(values, "station"),
        weight_kg=_optional_decimal(values, "weight_kg", minimum=Decimal(0)),
        fat_pct=_optional_decimal(values, "fat_pct", *_PERCENT),
        reject_reason=_optional_text(values, "reject_reason"),
        receipt_code=_optional_text(values, "receipt_code"),
    )


def read_deliveries_csv(path: Path | str) -> list[Delivery]:
    """Read a deliveries CSV (contracts.md) in file order; UserError on the first bad row."""
    deliveries: list[Delivery] = []
    first_row_of: dict[str, int] = {}
    for row_number, values in _read_rows(path, DELIVERY_REQUIRED):
        try:
            delivery = _delivery_from_row(values)
            if delivery.id in first_row_of:
                # The id is what makes a retried delivery count once; two rows
                # with one id would be paid twice.
                raise _FieldError("id", f"duplicate id {delivery.id!r} (first on row {first_row_of[delivery.id]})")
        except _FieldError as exc:
            raise UserError(f"{path}: row {row_number}, {exc}") from None
        first_row_of[delivery.id] = row_number
        deliveries.append(delivery)
    return deliveries


def _plain(value: Decimal | None) -> str:
    # format "f" never uses exponent notation ("1E+1" would be valid Python but not our CSV).
    return "" if value is None else f"{value:f}"


def write_deliveries_csv(path: Path | str, deliveries: Iterable[Delivery], tz: ZoneInfo) -> None:
    """Write deliveries in the CSV format `read_deliveries_csv` reads, times in ``tz``.

    Every column of contracts.md is written; empty cells stand for None.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DELIVERY_COLUMNS)
    for d in deliveries:
        writer.writerow(
            (
                d.id,
                d.producer,
                d.ts.astimezone(tz).isoformat(),
                _plain(d.liters),
                _plain(d.solids_pct),
                "true" if d.accepted else "false",
                _plain(d.milk_temp_c),
                d.center or "",
                d.station or "",
                _plain(d.weight_kg),
                _plain(d.fat_pct),
                d.reject_reason or "",
                d.receipt_code or "",
            )
        )
    write_text_atomic(path, buffer.getvalue())


def _advance_from_row(values: dict[str, str]) -> Advance:
    amount = _decimal(values, "amount", minimum=Decimal(0))
    if amount == 0:
        raise _FieldError("amount", f"must be above zero: {values['amount']!r}")
    if amount != round_half_up(amount):
        raise _FieldError("amount", f"more than two decimals: {values['amount']!r}")
    installments_text = values["installments"]
    if installments_text not in ("1", "2"):
        raise _FieldError("installments", f"expected 1 or 2, not {installments_text!r}")
    try:
        first_period = Period.parse(_text(values, "first_period"))
    except UserError as exc:
        raise _FieldError("first_period", str(exc)) from None
    return Advance(
        producer=_text(values, "producer"),
        kind=_text(values, "kind"),
        amount=amount,
        installments=int(installments_text),
        first_period=first_period,
    )


def read_advances_csv(path: Path | str) -> list[Advance]:
    """Read an advances CSV (``producer, kind, amount, installments, first_period``)."""
    advances: list[Advance] = []
    for row_number, values in _read_rows(path, ADVANCE_COLUMNS):
        try:
            advances.append(_advance_from_row(values))
        except _FieldError as exc:
            raise UserError(f"{path}: row {row_number}, {exc}") from None
    return advances
