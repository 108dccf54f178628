"""Deliveries and advances: the plain records the payment engine works on, and their CSV files.

Both files are described in contracts.md. Reading checks every row and stops
at the first bad one with a `PaymentsError` naming the file, the row (the line
number, the header being row 1) and the field, e.g.
``deliveries.csv: row 7, field liters: negative value '-3'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.payments.csvio import (
    FieldError,
    boolean_field,
    decimal_field,
    optional_decimal_field,
    optional_text_field,
    read_rows,
    row_error,
    text_field,
    timestamp_field,
)
from hub.payments.errors import PaymentsError, Text
from hub.payments.files import write_text_atomic
from hub.payments.money import round_half_up
from hub.payments.periods import Period

DELIVERY_REQUIRED = ("id", "producer", "ts", "liters", "solids_pct", "accepted")
DELIVERY_OPTIONAL = ("milk_temp_c", "center", "station", "weight_kg", "fat_pct", "reject_reason", "receipt_code")
DELIVERY_COLUMNS = DELIVERY_REQUIRED + DELIVERY_OPTIONAL
ADVANCE_COLUMNS = ("producer", "kind", "amount", "installments", "first_period")


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
    # The advance's own id (`milk-hub advances add`, or the CSV's optional
    # `id` column): an advance whose id is already known is counted once.
    id: str | None = None


_PERCENT = (Decimal(0), Decimal(100))


def _delivery_from_row(values: dict[str, str]) -> Delivery:
    accepted = boolean_field(values, "accepted")
    if accepted or values["solids_pct"]:
        solids_pct: Decimal | None = decimal_field(values, "solids_pct", *_PERCENT)
    else:
        solids_pct = None  # rejected before analysis
    return Delivery(
        id=text_field(values, "id"),
        producer=text_field(values, "producer"),
        ts=timestamp_field(values, "ts"),
        liters=decimal_field(values, "liters", minimum=Decimal(0)),
        solids_pct=solids_pct,
        accepted=accepted,
        milk_temp_c=optional_decimal_field(values, "milk_temp_c"),
        center=optional_text_field(values, "center"),
        station=optional_text_field(values, "station"),
        weight_kg=optional_decimal_field(values, "weight_kg", minimum=Decimal(0)),
        fat_pct=optional_decimal_field(values, "fat_pct", *_PERCENT),
        reject_reason=optional_text_field(values, "reject_reason"),
        receipt_code=optional_text_field(values, "receipt_code"),
    )


def read_deliveries_csv(path: Path | str) -> list[Delivery]:
    """Read a deliveries CSV (contracts.md) in file order; PaymentsError on the first bad row."""
    deliveries: list[Delivery] = []
    first_row_of: dict[str, int] = {}
    for row_number, values in read_rows(path, DELIVERY_REQUIRED):
        try:
            delivery = _delivery_from_row(values)
            if delivery.id in first_row_of:
                # The id is what makes a retried delivery count once; two rows
                # with one id would be paid twice.
                raise FieldError("id", Text("duplicate_id", id=repr(delivery.id), first=first_row_of[delivery.id]))
        except FieldError as exc:
            raise row_error(path, row_number, exc) from None
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
    amount = decimal_field(values, "amount", minimum=Decimal(0))
    if amount == 0:
        raise FieldError("amount", Text("not_above_zero", value=repr(values["amount"])))
    if amount != round_half_up(amount):
        raise FieldError("amount", Text("more_than_cents", value=repr(values["amount"])))
    installments_text = values["installments"]
    if installments_text not in ("1", "2"):
        raise FieldError("installments", Text("not_one_or_two", value=repr(installments_text)))
    try:
        first_period = Period.parse(text_field(values, "first_period"))
    except PaymentsError as exc:
        raise FieldError("first_period", exc.message) from None
    return Advance(
        producer=text_field(values, "producer"),
        kind=text_field(values, "kind"),
        amount=amount,
        installments=int(installments_text),
        first_period=first_period,
        id=optional_text_field(values, "id"),
    )


def read_advances_csv(path: Path | str) -> list[Advance]:
    """Read an advances CSV (``producer, kind, amount, installments, first_period``,
    optional ``id``); two rows with one id are refused (it would be deducted twice)."""
    advances: list[Advance] = []
    first_row_of: dict[str, int] = {}
    for row_number, values in read_rows(path, ADVANCE_COLUMNS):
        try:
            advance = _advance_from_row(values)
            if advance.id is not None and advance.id in first_row_of:
                raise FieldError("id", Text("duplicate_id", id=repr(advance.id), first=first_row_of[advance.id]))
        except FieldError as exc:
            raise row_error(path, row_number, exc) from None
        if advance.id is not None:
            first_row_of[advance.id] = row_number
        advances.append(advance)
    return advances
