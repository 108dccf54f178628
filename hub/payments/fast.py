"""The fortnight computed with numpy in exact integer arithmetic.

Same result as `engine.compute_fortnight` (the plain Decimal reference; a
randomised test proves them equal for every vectorisable scheme), for the
900,000 deliveries of a whole basin. How it stays exact:

- the scheme says what the vectorised engine needs (`pricing.PriceScheme`):
  its ``rate_key`` (the measures its rate depends on) and the ``quantity``
  the rate multiplies (litres, or kg of solids); a scheme that is not
  ``vectorised`` is priced by the Decimal engine instead, never guessed;
- the rate of a delivery depends only on (rate key, chilled), of which there
  are few distinct values: each distinct key is priced once by the scheme's
  own Decimal code, turned into an integer at a common scale, and spread
  back with numpy indexing;
- every decimal column (litres, quantities, TS in hundredths after the
  half-up rounding of the receipt) is turned into integers in its own
  smallest unit; value = quantity × rate + litres × chilled bonus (the rule
  of `pricing.price_delivery`) as int64 products, summed per producer with
  `np.add.at` (int64 sums are exact; a bound check switches to Python
  integers in object arrays if int64 could overflow);
- per producer the sums become Decimals (an exact scale shift) and the money
  steps are `engine.settle_producer`, the same function as the reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from hub.payments.engine import (
    Adjustment,
    DeliveryLine,
    Fortnight,
    ProducerRow,
    compute_fortnight,
    producers_and_dues,
    settle_producer,
    total_row,
)
from hub.payments.errors import PaymentsError, Text, reason_of
from hub.payments.money import EXACT, ZERO
from hub.payments.periods import Period
from hub.payments.pricing import (
    Pricing,
    chilled_bonus,
    is_chilled,
    priced_measures,
    round_pct,
    shown_rate,
)
from hub.payments.records import Delivery

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
    """Per-delivery integer values at ``scale``, with what the printed lines need."""

    value: np.ndarray
    scale: int
    shown_rates: list[Decimal]  # per distinct key: the rate printed on the line
    key_index: np.ndarray  # delivery -> distinct key
    solids: list[Decimal | None]  # TS as rounded for pricing
    quantities: list[Decimal]  # in the scheme's unit (0 when rejected)
    chilled: list[bool]


def can_vectorise(pricing: Pricing) -> bool:
    """Whether the scheme says its rate depends only on its ``rate_key`` (see `pricing.PriceScheme`)."""
    scheme = pricing.scheme
    return getattr(scheme, "vectorised", False) is True and callable(getattr(scheme, "rate_key", None)) \
        and callable(getattr(scheme, "quantity", None))


class _Rounded(dict):
    """round_pct of each distinct percentage, computed once (a dict lookup is cheaper than quantize)."""

    def __missing__(self, pct: Decimal) -> Decimal:
        rounded = self[pct] = round_pct(pct)
        return rounded


def _price_all(deliveries: Sequence[Delivery], pricing: Pricing, liters: np.ndarray, liter_places: int) -> _Priced:
    """Price every delivery: distinct keys by the scheme's Decimal code, values by numpy.

    ``liters`` are the accepted litres as integers at ``liter_places`` (0 when rejected).
    """
    n = len(deliveries)
    scheme = pricing.scheme
    # Distinct pricing keys: (the scheme's rate key, chilled); None (index 0) for rejected milk.
    keys: dict[tuple[Hashable, bool] | None, int] = {None: 0}
    key_index = np.zeros(n, dtype=np.int64)
    rates: list[Decimal] = [ZERO]
    shown: list[Decimal] = [ZERO]
    rounded_of = _Rounded()
    solids: list[Decimal | None] = []
    quantities: list[Decimal] = []
    chilled_of: list[bool] = []
    quantity_is_liters = True  # every quantity is the delivery's own litres (a litre scheme)
    for i, d in enumerate(deliveries):
        if not d.accepted:
            solids.append(None if d.solids_pct is None else rounded_of[d.solids_pct])
            quantities.append(ZERO)
            chilled_of.append(False)
            continue  # key_index[i] stays 0: rate and value 0
        try:
            rounded, fat = priced_measures(pricing, d.solids_pct, d.fat_pct, rounded_of.__getitem__)
            chilled = is_chilled(pricing, d.milk_temp_c)
            key = (scheme.rate_key(rounded, fat), chilled)
            index = keys.get(key)
            if index is None:
                index = keys[key] = len(rates)
                rate = scheme.rate(rounded, fat)
                rates.append(rate)
                shown.append(shown_rate(pricing, rate, chilled))
            quantity = scheme.quantity(d.liters, d.weight_kg, rounded)
        except ValueError as exc:
            raise PaymentsError(Text("delivery", id=d.id, producer=d.producer, reason=reason_of(exc))) from None
        quantity_is_liters = quantity_is_liters and quantity is d.liters
        key_index[i] = index
        solids.append(rounded)
        quantities.append(quantity)
        chilled_of.append(chilled)

    # value = quantity × rate + litres × chilled bonus (both 0 when rejected)
    rate_places = _places(rates)
    rate_ints = _scaled(rates, rate_places)[key_index] if n else np.zeros(0, dtype=np.int64)
    if quantity_is_liters:
        # The same numbers as the litres column: no second conversion.
        quantity_ints, quantity_places = liters, liter_places
    else:
        quantity_places = _places(quantities)
        quantity_ints = _scaled(quantities, quantity_places)
    quality_value = _mul(quantity_ints, rate_ints)
    quality_scale = quantity_places + rate_places
    bonus = chilled_bonus(pricing, True)
    if not bonus:
        return _Priced(quality_value, quality_scale, shown, key_index, solids, quantities, chilled_of)
    chilled = np.fromiter(chilled_of, dtype=bool, count=n)
    bonus_places = _places([bonus])
    bonus_value = _mul(liters * chilled, np.full(n, int(bonus.scaleb(bonus_places)), dtype=np.int64))
    bonus_scale = liter_places + bonus_places
    scale = max(quality_scale, bonus_scale)
    value = _rescale(quality_value, scale - quality_scale) + _rescale(bonus_value, scale - bonus_scale)
    return _Priced(value, scale, shown, key_index, solids, quantities, chilled_of)


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
    (statements.csv does not need them; the printable statements do).

    A scheme that does not say it can be vectorised (`can_vectorise`) is
    priced by the Decimal engine (with its lines): slower, never wrong.
    """
    if not can_vectorise(pricing):
        return compute_fortnight(period, deliveries, pricing, advances, carried_in, adjustments)
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
    accepted = np.fromiter((d.accepted for d in inside), dtype=bool, count=len(inside))
    liter_places = _places(d.liters for d in inside)
    liters = _scaled([d.liters if d.accepted else ZERO for d in inside], liter_places)
    priced = _price_all(inside, pricing, liters, liter_places)
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
        for i, d in enumerate(inside):
            per_producer_lines[d.producer].append(DeliveryLine(
                id=d.id, ts=d.ts.astimezone(tz), liters=d.liters, solids_pct=priced.solids[i],
                price_per_liter=priced.shown_rates[priced.key_index[i]],
                value=Decimal(int(priced.value[i])).scaleb(-priced.scale), accepted=d.accepted,
                reject_reason=d.reject_reason, chilled=priced.chilled[i], milk_temp_c=d.milk_temp_c,
                receipt_code=d.receipt_code, unit=unit, quantity=priced.quantities[i]))

    charges, balances, adjusted, producers = producers_and_dues(
        names, advances, period, carried_in, adjustments)

    rows: list[ProducerRow] = []
    total_solids = 0
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
        producer_lines = per_producer_lines.get(producer, [])
        producer_lines.sort(key=lambda line: (line.ts, line.id))
        rows.append(settle_producer(
            producer, deliveries=n, rejected=r, liters_exact=liters_exact, solids_liters=solids_liters,
            value_exact=value_exact, contribution_per_liter=pricing.contribution_per_liter,
            charges=charges.get(producer, []), carried_in=balances.get(producer, ZERO),
            adjustments=adjusted.get(producer, []), lines=producer_lines))
    total = total_row(rows, Decimal(total_solids).scaleb(-liter_places - 2))
    return Fortnight(period, pricing, tuple(rows), total, outside)
