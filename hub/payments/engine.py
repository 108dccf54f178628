"""The fortnight payment: from deliveries, pricing and advances to one row per producer.

A pure function over plain records (payments.md, "From gross to net"): no
files, no clock, no database. Money is exact until the few roundings the
rules name, each half-up to the cent:
- gross: the sum of exact delivery values, rounded once;
- fees: accepted litres × contribution per litre, rounded once;
- the first of two installments: rounded *down* to the cent, the second
  takes the remainder, so the two always add up to the advance.
The money steps of one producer are `settle_producer`, which the vectorised
engine (`hub.payments.columnar`) calls too: only the sums differ in how they
are computed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from hub.payments.errors import PaymentsError, Text, reason_of
from hub.payments.money import (
    EXACT,
    ZERO,
    mean_half_up,
    round_down_cents,
    round_half_up,
)
from hub.payments.periods import Period
from hub.payments.pricing import Pricing, price_delivery
from hub.payments.records import Advance, Delivery

TOTAL = "TOTAL"  # producer name of the total row in statements.csv


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """One delivery as printed on a producer's statement.

    ``ts`` in the association's time zone; ``liters`` in L as delivered;
    ``solids_pct`` as rounded for pricing; ``price_per_liter`` and the exact
    ``value`` in the pricing currency (both 0 when rejected).
    """

    id: str
    ts: datetime
    liters: Decimal
    solids_pct: Decimal | None
    price_per_liter: Decimal
    value: Decimal
    accepted: bool
    reject_reason: str | None
    chilled: bool
    milk_temp_c: Decimal | None
    receipt_code: str | None = None
    unit: str = "L"
    quantity: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Charge:
    """One installment of an advance that falls due in the period, in currency."""

    kind: str
    amount: Decimal
    installment: int
    installments: int
    first_period: Period


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A late or corrected delivery of a closed period, paid in the current one.

    ``liters`` and ``value`` are the differences with what the closed period
    paid (a new delivery: its litres and value; a correction: new − old,
    possibly negative). Both count in this period's gross and fees.
    """

    producer: str
    delivery_id: str
    period: Period
    ts: datetime
    liters: Decimal
    value: Decimal
    reason: str = "late"  # "late" (new delivery) or "corrected"


@dataclass(frozen=True, slots=True)
class ProducerRow:
    """One producer's fortnight (or the TOTAL row, which has no lines or charges).

    Money in the pricing currency, rounded to the cent. ``liters_exact`` is
    the exact sum of accepted litres; ``carried_in`` is the unpaid balance
    brought from earlier periods; ``due`` is that balance plus the
    installments (``charges``) falling due now; ``deductions`` is what was
    actually deducted and ``carried_over`` what fell due but could not be.
    """

    producer: str
    deliveries: int
    rejected: int
    liters_exact: Decimal
    avg_solids_pct: Decimal | None
    gross: Decimal
    fees: Decimal
    deductions: Decimal
    carried_over: Decimal
    net: Decimal
    carried_in: Decimal = ZERO
    due: Decimal = ZERO
    lines: tuple[DeliveryLine, ...] = ()
    charges: tuple[Charge, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def liters(self) -> Decimal:
        """Accepted litres as printed: the exact sum rounded half-up to 2 decimals."""
        return round_half_up(self.liters_exact)



@dataclass(frozen=True, slots=True)
class Fortnight:
    """The computed payment of one period: rows sorted by producer, and their total.

    ``outside_period`` counts the deliveries given to `compute_fortnight`
    that were not in the period and were therefore ignored.
    """

    period: Period
    pricing: Pricing
    rows: tuple[ProducerRow, ...]
    total: ProducerRow
    outside_period: int = 0

    def row(self, producer: str) -> ProducerRow:
        """The row of ``producer``; PaymentsError when the producer has none this period."""
        index = bisect_left(self.rows, producer, key=lambda row: row.producer)  # rows are sorted
        if index < len(self.rows) and self.rows[index].producer == producer:
            return self.rows[index]
        raise PaymentsError(f"producer {producer!r} has no statement in period {self.period}")


def installments_of(advance: Advance) -> list[Charge]:
    """Split an advance into the installments it falls due in, with their periods.

    Returns charges in order; the n-th falls due in ``first_period`` moved on
    n-1 periods (see `due_period`).
    """
    if advance.installments == 1:
        amounts = [advance.amount]
    else:
        with localcontext(EXACT):
            first = round_down_cents(advance.amount / 2)  # amount has cents: /2 is exact
            amounts = [first, advance.amount - first]
    return [
        Charge(advance.kind, amount, number, advance.installments, advance.first_period)
        for number, amount in enumerate(amounts, start=1)
    ]


def due_period(charge: Charge) -> Period:
    """The period in which an installment falls due (consecutive periods)."""
    period = charge.first_period
    for _ in range(charge.installment - 1):
        period = period.next()
    return period


def _charges_due(advances: Iterable[Advance], period: Period) -> dict[str, list[Charge]]:
    due: dict[str, list[Charge]] = defaultdict(list)
    for advance in advances:
        for charge in installments_of(advance):
            if due_period(charge) == period:
                due[advance.producer].append(charge)
    return due


def _line(delivery: Delivery, pricing: Pricing) -> DeliveryLine:
    try:
        priced = price_delivery(
            pricing, delivery.liters, delivery.solids_pct, delivery.accepted, delivery.milk_temp_c,
            delivery.weight_kg, delivery.fat_pct,
        )
    except ValueError as exc:
        raise PaymentsError(Text("delivery", id=delivery.id, producer=delivery.producer, reason=reason_of(exc))) from None
    return DeliveryLine(
        id=delivery.id,
        ts=delivery.ts.astimezone(pricing.timezone),
        liters=delivery.liters,
        solids_pct=priced.solids_pct,
        price_per_liter=priced.price_per_liter,
        value=priced.value,
        accepted=delivery.accepted,
        reject_reason=delivery.reject_reason,
        chilled=priced.chilled,
        milk_temp_c=delivery.milk_temp_c,
        receipt_code=delivery.receipt_code,
        unit=priced.unit,
        quantity=priced.quantity,
    )


def _producer_row(
    producer: str,
    lines: list[DeliveryLine],
    charges: list[Charge],
    carried_in: Decimal,
    pricing: Pricing,
    adjustments: list[Adjustment] = (),
) -> tuple[ProducerRow, Decimal]:
    """The producer's row, and the exact Σ litres × TS the TOTAL average needs."""
    lines.sort(key=lambda line: (line.ts, line.id))
    accepted = [line for line in lines if line.accepted]
    solids_liters = sum((line.liters * line.solids_pct for line in accepted), ZERO)
    row = settle_producer(
        producer,
        deliveries=len(lines),
        rejected=len(lines) - len(accepted),
        liters_exact=sum((line.liters for line in accepted), ZERO),
        solids_liters=solids_liters,
        value_exact=sum((line.value for line in lines), ZERO),
        contribution_per_liter=pricing.contribution_per_liter,
        charges=charges,
        carried_in=carried_in,
        adjustments=adjustments,
        lines=lines,
    )
    return row, solids_liters


def settle_producer(
    producer: str,
    *,
    deliveries: int,
    rejected: int,
    liters_exact: Decimal,
    solids_liters: Decimal,
    value_exact: Decimal,
    contribution_per_liter: Decimal,
    charges: Sequence[Charge] = (),
    carried_in: Decimal = ZERO,
    adjustments: Sequence[Adjustment] = (),
    lines: Sequence[DeliveryLine] = (),
) -> ProducerRow:
    """One producer's money steps: gross -> fees -> deductions -> carry-over -> net.

    The one place for these rules, shared by the Decimal engine and the
    vectorised one (`hub.payments.columnar`), which differ only in how they get
    the exact sums of the period's deliveries: ``liters_exact`` (accepted
    litres), ``solids_liters`` (Σ litres × TS, for the average TS) and
    ``value_exact`` (Σ delivery values). ``adjustments`` of closed periods
    add to gross and fees; ``charges`` and ``carried_in`` fall due now.
    ``lines`` are kept on the row as given (sorted by the caller).
    """
    with localcontext(EXACT):
        gross_exact = value_exact + sum((a.value for a in adjustments), ZERO)
        # A correction downwards larger than this period's milk: the rest is owed.
        owed = round_half_up(-gross_exact) if gross_exact < 0 else ZERO
        gross = round_half_up(max(gross_exact, ZERO))
        # Fees are capped at gross: with a price floored at zero (very poor milk)
        # the contribution could exceed what the milk earned, and the producer
        # would end up owing money for having delivered it.
        fee_liters = max(liters_exact + sum((a.liters for a in adjustments), ZERO), ZERO)
        fees = min(round_half_up(fee_liters * contribution_per_liter), gross)
        due = carried_in + owed + sum((charge.amount for charge in charges), ZERO)
        # Fees are taken before deductions; what does not fit carries over.
        deductions = min(due, gross - fees)
        return ProducerRow(
            producer=producer,
            deliveries=deliveries,
            rejected=rejected,
            liters_exact=liters_exact,
            avg_solids_pct=mean_half_up(solids_liters, liters_exact) if liters_exact > 0 else None,
            gross=gross,
            fees=fees,
            deductions=deductions,
            carried_over=due - deductions,
            net=gross - fees - deductions,
            carried_in=carried_in,
            due=due,
            lines=tuple(lines),
            charges=tuple(charges),
            adjustments=tuple(adjustments),
        )


def total_row(rows: Sequence[ProducerRow], solids_liters: Decimal) -> ProducerRow:
    """The TOTAL row: counts and money as printed on the rows; litres and average TS
    from the exact sums (``solids_liters`` = Σ litres × TS over all producers)."""

    def column(field: str) -> Decimal:
        return sum((getattr(row, field) for row in rows), ZERO)

    liters_exact = column("liters_exact")
    return ProducerRow(
        producer=TOTAL,
        deliveries=sum(row.deliveries for row in rows),
        rejected=sum(row.rejected for row in rows),
        liters_exact=liters_exact,
        avg_solids_pct=mean_half_up(solids_liters, liters_exact) if liters_exact > 0 else None,
        gross=column("gross"),
        fees=column("fees"),
        deductions=column("deductions"),
        carried_over=column("carried_over"),
        net=column("net"),
        carried_in=column("carried_in"),
        due=column("due"),
    )


def producers_and_dues(names, advances, period: Period, carried_in, adjustments):
    """What falls due per producer this period, and every producer with a row
    (deliveries, charges, carried-in balances or adjustments), sorted."""
    charges = _charges_due(advances, period)
    balances = {producer: amount for producer, amount in (carried_in or {}).items() if amount}
    for producer, amount in balances.items():
        if amount < 0:
            raise ValueError(f"carried-in balance of {producer!r} is negative: {amount}")
    adjusted: dict[str, list[Adjustment]] = defaultdict(list)
    for adjustment in adjustments:
        adjusted[adjustment.producer].append(adjustment)
    producers = sorted(set(names) | set(charges) | set(balances) | set(adjusted))
    if TOTAL in producers:
        raise PaymentsError(f"producer {TOTAL!r} is reserved for the total row of the statement")
    return charges, balances, adjusted, producers


def compute_fortnight(
    period: Period,
    deliveries: Iterable[Delivery],
    pricing: Pricing,
    advances: Iterable[Advance] = (),
    carried_in: Mapping[str, Decimal] | None = None,
    adjustments: Iterable[Adjustment] = (),
) -> Fortnight:
    """Compute every producer's payment for ``period`` (payments.md).

    ``deliveries`` may include other periods' deliveries: those whose local
    time in ``pricing.timezone`` is outside the period are ignored and
    counted. Installments of ``advances`` fall due in their periods;
    ``carried_in`` maps a producer to the balance (currency, ≥ 0) left
    undeducted by earlier periods, which falls due again now;
    ``adjustments`` (late or corrected deliveries of closed periods, from
    the ledger) add to gross and fees. Every producer with a delivery,
    an adjustment or something due gets a row.
    """
    start, end = period.bounds(pricing.timezone)
    lines: dict[str, list[DeliveryLine]] = defaultdict(list)
    outside = 0
    with localcontext(EXACT):
        for delivery in deliveries:
            # Comparing instants: the bounds are local midnights, so this is
            # the local-date rule of `period_of` without converting each time.
            if not start <= delivery.ts < end:
                outside += 1
                continue
            lines[delivery.producer].append(_line(delivery, pricing))

        charges, balances, adjusted, producers = producers_and_dues(
            lines, advances, period, carried_in, adjustments)

        rows: list[ProducerRow] = []
        solids_liters = ZERO
        for producer in producers:
            row, producer_solids_liters = _producer_row(
                producer, lines.get(producer, []), charges.get(producer, []), balances.get(producer, ZERO), pricing,
                adjusted.get(producer, []),
            )
            rows.append(row)
            solids_liters += producer_solids_liters
        total = total_row(rows, solids_liters)
    return Fortnight(period, pricing, tuple(rows), total, outside)
