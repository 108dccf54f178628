"""Advances as records: what the association lent a producer, entered by an
officer (`milk-hub advances add`), kept in the payment ledger with who
entered it, cancelled (never deleted) by `milk-hub advances cancel`.

Pure: validation and the installment schedule. The ledger stores them
(`hub/payments/ledger.py`) and merges them with the advances CSV, counting
each id once (`merge_advances`).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from milk_common.contract.ids import valid_producer_code
from milk_common.i18n import language_from_environment, translate

from hub.payments.engine import due_period, installments_of
from hub.payments.errors import PaymentsError
from hub.payments.money import round_half_up
from hub.payments.periods import Period
from hub.payments.records import Advance

KINDS = ("feed", "veterinary", "cash", "other")
ADVANCE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class AdvanceError(PaymentsError):
    """A bad advance entry or cancellation; `text(lang)` words it (catalog `payments`)."""

    def __init__(self, key: str, **values: object) -> None:
        self.key, self.values = key, values
        super().__init__(self.text())

    def text(self, lang: str | None = None) -> str:
        return translate("payments", f"advance_{self.key}", lang or language_from_environment(),
                         **self.values)


@dataclass(frozen=True, slots=True)
class AdvanceRecord:
    """An advance as the ledger keeps it: the advance and who did what when."""

    advance: Advance
    entered_by: str
    entered_at: str                 # ISO 8601 with offset
    note: str = ""
    cancelled_at: str | None = None
    cancelled_by: str | None = None

    @property
    def id(self) -> str:
        return self.advance.id or ""

    @property
    def active(self) -> bool:
        return self.cancelled_at is None


def new_advance_id() -> str:
    """`adv-` and 8 hex digits: short enough to read out over the phone."""
    return f"adv-{uuid.uuid4().hex[:8]}"


def parse_new_advance(*, producer: str, kind: str, amount: str, installments: int,
                      first_period: str, entered_by: str, entered_at: str, note: str = "",
                      advance_id: str | None = None) -> AdvanceRecord:
    """Check an officer's entry; AdvanceError names the bad value."""
    if not valid_producer_code(producer):
        raise AdvanceError("bad_producer", value=producer)
    if kind not in KINDS:
        raise AdvanceError("bad_kind", value=kind, kinds=", ".join(KINDS))
    try:
        value = Decimal(amount.strip().replace(",", "."))
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise AdvanceError("bad_amount", value=amount) from None
    if value <= 0 or value != round_half_up(value):
        raise AdvanceError("bad_amount", value=amount)
    if installments not in (1, 2):
        raise AdvanceError("bad_installments", value=installments)
    try:
        period = Period.parse(first_period)
    except PaymentsError:
        raise AdvanceError("bad_period", value=first_period) from None
    if not entered_by.strip():
        raise AdvanceError("no_author")
    ident = advance_id or new_advance_id()
    if not ADVANCE_ID.match(ident):
        raise AdvanceError("bad_id", value=ident)
    return AdvanceRecord(Advance(producer, kind, value, installments, period, ident),
                         entered_by.strip(), entered_at, note.strip())


def schedule(advance: Advance) -> list[tuple[Period, Decimal]]:
    """(period, amount) of each installment, in order."""
    return [(due_period(charge), charge.amount) for charge in installments_of(advance)]


def _key(a: Advance) -> tuple:
    return (a.producer, a.kind, str(a.amount), a.installments, str(a.first_period))


def merge_advances(given: Iterable[Advance], records: Iterable[AdvanceRecord],
                   known_at_closing: Iterable[Advance]) -> list[Advance]:
    """The advances a period is computed with, each counted once.

    - the ledger's active records;
    - the given ones (the advances CSV), but not one whose id the ledger
      already knows (recorded, or cancelled: a cancelled id stays cancelled);
    - those known at the last closing (so a second installment falls due even
      when the CSV no longer lists it), unless counted above: by id when they
      have one, else by value (the same row of the same file).
    """
    records = list(records)
    ledger_ids = {r.id for r in records}
    cancelled = {r.id for r in records if not r.active}
    merged = [r.advance for r in records if r.active]
    counted = set(ledger_ids)
    plain = Counter()
    for advance in given:
        if advance.id is not None:
            if advance.id in counted:
                continue
            counted.add(advance.id)
        else:
            plain[_key(advance)] += 1
        merged.append(advance)
    for advance in known_at_closing:
        if advance.id is not None:
            if advance.id in counted or advance.id in cancelled:
                continue
            counted.add(advance.id)
        elif plain[_key(advance)] > 0:
            plain[_key(advance)] -= 1
            continue
        merged.append(advance)
    return merged
