"""The fortnight computed with numpy in exact integer arithmetic.

Same result as `engine.compute_fortnight` (the plain Decimal reference; a
randomised test proves them equal), for the 900,000 deliveries of a whole
basin. How it stays exact:

- every decimal column is turned into integers in its own smallest unit
  (litres × 10^k where k is the most decimals any row has; TS in hundredths
  after the half-up rounding of the receipt; temperatures, kg, fat alike);
- the rate of a delivery depends only on (TS, fat, chilled), of which there
  are few distinct values: each distinct key is priced once by the scheme's
  own Decimal code (`pricing.price_delivery`), turned into an integer at a
  common scale, and spread back with numpy indexing;
- value = litres × rate (or kg × TS × rate) as int64 products, summed per
  producer with `np.add.at` (int64 sums are exact; a bound check switches to
  Python integers in object arrays if int64 could overflow);
- per producer the sums become Decimals (an exact scale shift) and the few
  money steps (rounding gross and fees, deductions, carry-over) run as in
  the reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from hub.errors import UserError
from hub.payments.engine import (
    Adjustment,
    DeliveryLine,
    Fortnight,
    ProducerRow,
)
from hub.payments.money import EXACT, ZERO, mean_half_up, round_half_up
from hub.payments.periods import Period
from hub.payments.pricing import Pricing, is_chilled, kg_of, price_delivery
from hub.payments.records import Delivery
from hub.payments.engine import _total_row, producers_and_dues  # noqa: E402  (shared rules)

_INT64_SAFE = 2**62


def _places(values: Iterable[Decimal | None]) -> int:
    """The most decimals among ``values`` (0 for integers)."""
    most = 0
    for value in values:
        if value is not None:
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > most:
                most = -exponent
    return most


def _scaled(values: Sequence[Decimal | None], places: int) -> np.ndarray:
    """Exact integers ``value × 10^places`` (0 for None) as int64, or object when too large."""
    ints = [0 if v is None else int(v.scaleb(places)) for v in values]
    if ints and max(map(abs, ints)) >= _INT64_SAFE:
        return np.array(ints, dtype=object)
    return np.array(ints, dtype=np.int64)


def _sum_by(codes: np.ndarray, values: np.ndarray, groups: int) -> list[int]:
    """Exact per-group sums of integer ``values`` as Python ints."""
    bound = int(np.abs(values).max()) * len(values) if len(values) and values.dtype != object else 0
    if values.dtype == object or bound >= _INT64_SAFE:
        out = np.zeros(groups, dtype=object)
        np.add.at(out, codes, values.astype(object))
    else:
        out = np.zeros(groups, dtype=np.int64)
        np.add.at(out, codes, values)
    return [int(v) for v in out]


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact elementwise product; object (Python int) arrays when int64 could overflow."""
    if a.dtype != object and b.dtype != object and len(a):
        if int(np.abs(a).max()) * int(np.abs(b).max()) < _INT64_SAFE:
            return a * b
    return a.astype(object) * b.astype(object)


def _rescale(a: np.ndarray, by: int) -> np.ndarray:
    return a if by == 0 else _mul(a, np.full(len(a), 10**by, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class _Priced:
    """Per-delivery integer results at ``scale`` and the rounded TS in hundredths."""

    value: np.ndarray
    scale: int
    rates: list[Decimal]  # per distinct key
    key_index: np.ndarray  # delivery -> distinct key
    solids: list[Decimal | None]


def _price_all(deliveries: Sequence[Delivery], pricing: Pricing) -> _Priced:
    """Price every delivery: distinct keys by the scheme's Decimal code, values by numpy."""
    n = len(deliveries)
    accepted = np.fromiter((d.accepted for d in deliveries), dtype=bool, count=n)
    # Distinct pricing keys: the rounded TS, the rounded fat (if the scheme uses it), chilled.
    keys: dict[tuple, int] = {}
    key_index = np.zeros(n, dtype=np.int64)
    rates: list[Decimal] = []
    bonus = pricing.chilled_bonus_per_liter
    uses_fat = "fat_pct" in pricing.scheme.needs
    solids_cache: dict[Decimal, Decimal] = {}
    solids: list[Decimal | None] = []
    kg: list[Decimal | None] = []
    per_kg = pricing.scheme.unit != "L"
    for i, d in enumerate(deliveries):
        if d.solids_pct is None:
            solids.append(None)
        else:
            rounded = solids_cache.get(d.solids_pct)
            if rounded is None:
                rounded = solids_cache[d.solids_pct] = round_half_up(d.solids_pct, Decimal("0.01"))
            solids.append(rounded)
        if not d.accepted:
            key = None
        else:
            key = (solids[-1], d.fat_pct if uses_fat else None, is_chilled(pricing, d.milk_temp_c))
        index = keys.get(key)
        if index is None:
            index = keys[key] = len(rates)
            if key is None:
                rates.append(ZERO)
            else:
                try:
                    priced = price_delivery(pricing, Decimal(1), d.solids_pct, True, d.milk_temp_c,
                                            Decimal(1), d.fat_pct)
                except ValueError as exc:
                    raise UserError(f"delivery {d.id} of {d.producer}: {exc}") from None
                # per litre for litre schemes; the per-kg-solids rate otherwise
                rates.append(priced.price_per_liter)
        key_index[i] = index
        if per_kg:
            weight = kg_of(pricing, d.liters, d.weight_kg) if d.accepted else ZERO
            if weight is None:
                raise UserError(f"delivery {d.id} of {d.producer}: scheme {pricing.scheme.name} needs "
                                "weight_kg (or set kg_per_liter in [price])")
            kg.append(weight)

    liter_places = _places(d.liters for d in deliveries)
    liters = _scaled([d.liters if d.accepted else ZERO for d in deliveries], liter_places)
    rate_places = _places(rates)
    rate_ints = _scaled(rates, rate_places)[key_index] if n else np.zeros(0, dtype=np.int64)
    if not per_kg:
        return _Priced(_mul(liters, rate_ints), liter_places + rate_places, rates, key_index, solids)

    # value = kg × TS/100 × rate + litres × chilled bonus
    kg_places = _places(kg)
    kg_ints = _scaled(kg, kg_places)
    hundredths = _scaled([s if a else ZERO for s, a in zip(solids, accepted)], 2)
    solids_value = _mul(_mul(kg_ints, hundredths), rate_ints)  # scale kg_places + 2 + 2 + rate_places
    solids_scale = kg_places + 4 + rate_places
    chilled = np.fromiter((a and is_chilled(pricing, d.milk_temp_c) for d, a in zip(deliveries, accepted)),
                          dtype=bool, count=n)
    bonus_places = _places([bonus])
    bonus_value = _mul(liters * chilled, np.full(n, int(bonus.scaleb(bonus_places)), dtype=np.int64))
    bonus_scale = liter_places + bonus_places
    scale = max(solids_scale, bonus_scale)
    value = _rescale(solids_value, scale - solids_scale) + _rescale(bonus_value, scale - bonus_scale)
    return _Priced(value, scale, rates, key_index, solids)


def compute_fortnight_fast(
    period: Period,
    deliveries: Iterable[Delivery],
    pricing: Pricing,
    advances: Iterable = (),
    carried_in: Mapping[str, Decimal] | None = None,
    adjustments: Iterable[Adjustment] = (),
    lines: bool = True,
) -> Fortnight:
    """`engine.compute_fortnight`, vectorised. ``lines=False`` leaves out the per-delivery lines
    (statements.csv does not need them; the printable statements do)."""
    with localcontext(EXACT):
        return _compute(period, deliveries, pricing, advances, carried_in, adjustments, lines)


def _compute(period, deliveries, pricing, advances, carried_in, adjustments, lines) -> Fortnight:
    start, end = period.bounds(pricing.timezone)
    all_deliveries = list(deliveries)
    inside = [d for d in all_deliveries if start <= d.ts < end]
    outside = len(all_deliveries) - len(inside)

    names = sorted({d.producer for d in inside})
    code_of = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((code_of[d.producer] for d in inside), dtype=np.int64, count=len(inside))
    groups = len(names)
    priced = _price_all(inside, pricing)

    accepted = np.fromiter((d.accepted for d in inside), dtype=bool, count=len(inside))
    liter_places = _places(d.liters for d in inside)
    liters = _scaled([d.liters if d.accepted else ZERO for d in inside], liter_places)
    hundredths = _scaled([s if a else ZERO for s, a in zip(priced.solids, accepted)], 2)
    value_sums = _sum_by(codes, priced.value, groups)
    liter_sums = _sum_by(codes, liters, groups)
    solids_sums = _sum_by(codes, _mul(liters, hundredths), groups)
    count = np.bincount(codes, minlength=groups).tolist() if groups else []
    rejected = np.bincount(codes[~accepted], minlength=groups).tolist() if groups else []

    per_producer_lines: dict[str, list[DeliveryLine]] = defaultdict(list)
    if lines:
        tz = pricing.timezone
        unit = pricing.scheme.unit
        rate_of = priced.rates
        for i, d in enumerate(inside):
            rate = rate_of[priced.key_index[i]]
            value = Decimal(int(priced.value[i])).scaleb(-priced.scale)
            if unit == "L":
                quantity = d.liters if d.accepted else ZERO
            else:
                with localcontext(EXACT):
                    quantity = kg_of(pricing, d.liters, d.weight_kg) * priced.solids[i].scaleb(-2) \
                        if d.accepted else ZERO
            per_producer_lines[d.producer].append(DeliveryLine(
                id=d.id, ts=d.ts.astimezone(tz), liters=d.liters, solids_pct=priced.solids[i],
                price_per_liter=rate, value=value, accepted=d.accepted, reject_reason=d.reject_reason,
                chilled=d.accepted and is_chilled(pricing, d.milk_temp_c), milk_temp_c=d.milk_temp_c,
                receipt_code=d.receipt_code, unit=unit, quantity=quantity))

    charges, balances, adjusted, producers = producers_and_dues(
        names, advances, period, carried_in, adjustments)

    contribution = pricing.contribution_per_liter
    rows: list[ProducerRow] = []
    total_solids = 0
    with localcontext(EXACT):
        for producer in producers:
            code = code_of.get(producer)
            if code is None:
                value_exact, liters_exact, solids_liters, n, r = ZERO, ZERO, ZERO, 0, 0
            else:
                value_exact = Decimal(value_sums[code]).scaleb(-priced.scale)
                liters_exact = Decimal(liter_sums[code]).scaleb(-liter_places)
                solids_liters = Decimal(solids_sums[code]).scaleb(-liter_places - 2)
                n, r = count[code], rejected[code]
                total_solids += solids_sums[code]
            own = adjusted.get(producer, [])
            gross_exact = value_exact + sum((a.value for a in own), ZERO)
            owed = round_half_up(-gross_exact) if gross_exact < 0 else ZERO
            gross = round_half_up(max(gross_exact, ZERO))
            fee_liters = max(liters_exact + sum((a.liters for a in own), ZERO), ZERO)
            fees = min(round_half_up(fee_liters * contribution), gross)
            due_charges = charges.get(producer, [])
            carried = balances.get(producer, ZERO)
            due = carried + owed + sum((c.amount for c in due_charges), ZERO)
            deductions = min(due, gross - fees)
            producer_lines = per_producer_lines.get(producer, [])
            producer_lines.sort(key=lambda line: (line.ts, line.id))
            rows.append(ProducerRow(
                producer=producer, deliveries=n, rejected=r, liters_exact=liters_exact,
                avg_solids_pct=mean_half_up(solids_liters, liters_exact) if liters_exact > 0 else None,
                gross=gross, fees=fees, deductions=deductions, carried_over=due - deductions,
                net=gross - fees - deductions, carried_in=carried, due=due,
                lines=tuple(producer_lines), charges=tuple(due_charges), adjustments=tuple(own)))
        total = _total_row(rows, Decimal(total_solids).scaleb(-liter_places - 2))
    return Fortnight(period, pricing, tuple(rows), total, outside)
