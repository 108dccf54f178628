"""The vectorised payment engine: a fortnight's deliveries as numpy columns, priced exactly.

Every scheme the pricing file allows is priced here (per litre or per kg of
solids); `engine.compute_fortnight` (plain Decimal, one delivery at a time)
is the reference it is tested against, and what it falls back on when the
inputs are beyond exact 64-bit integers. Two ways in:

- `compute_fortnight_columnar`: deliveries as records (the deliveries CSV
  reader's, the ledger's inputs, the web's one producer) in, a `Fortnight`
  with its per-delivery lines out (`milk-hub payments`, the web);
- `compute_columns`: columns in (`DeliveryColumns`, read in chunks from
  InfluxDB by `hub.store.columns`, or built from records), a `Fortnight`
  without lines and the priced columns out; `milk-hub payments --csv-only`
  writes statements.csv, lines.csv, statements.txt and warnings.txt from
  them without one Python object per delivery.

How it stays exact: every decimal column is an int64 column at its own scale
(the most decimals any of its values has); each distinct pricing combination
(TS and fat as rounded, chilled or not) is priced once by the scheme's own
Decimal code; value = quantity × rate + litres × chilled bonus (the rule of
`pricing.price_delivery`), the quantity being the litres or, per kg of
solids, kg × TS/100 (kg as weighed, else litres × ``kg_per_liter``), in
int64 with bound checks; per producer the sums are settled by
`engine.settle_producer`, the money steps of the reference, or, for a
producer with nothing due, by the same steps in integers (`_plain_row`).
statements.csv and the console table are laid out from the rows' printed
integers, lines.csv from the columns (`textcols.join_rows`).

What int64 cannot hold (or text the columns do not take) raises
`NotColumnar`: `compute_fortnight_columnar` then prices with the reference
engine, `--csv-only` takes the per-delivery path (slower, same result).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from hub.payments import textcols as tc
from hub.payments.checks import Finding, advance_findings, delivery_findings, period_findings, unregistered
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
from hub.payments.files import staging_folder
from hub.payments.explain import LINE_COLUMNS, PRICE_PLACES, price_parts
from hub.payments.format import format_date
from hub.payments.money import EXACT, ZERO, round_half_up
from hub.payments.periods import Period
from hub.payments.pricing import Pricing, chilled_bonus, price_delivery, shown_rate
from hub.payments.records import Delivery

_SAFE = 2**62
LINES_PER_WRITE = 25_000  # lines.csv is laid out this many rows at a time (memory stays flat)


class NotColumnar(Exception):
    """These inputs need the per-delivery path (the message says why)."""


def _places(values: Iterable[Decimal | None]) -> int:
    """The most decimals among ``values`` (0 for integers)."""
    most = 0
    for value in values:
        if value is not None:
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > most:
                most = -exponent
    return most


def can_vectorise(pricing: Pricing) -> bool:
    """Whether the scheme says its rate depends only on its ``rate_key`` (see `pricing.PriceScheme`);
    a scheme that does not is priced by the reference engine, never guessed."""
    scheme = pricing.scheme
    return getattr(scheme, "vectorised", False) is True and callable(getattr(scheme, "rate_key", None)) \
        and callable(getattr(scheme, "quantity", None))


@dataclass(frozen=True, slots=True)
class DecimalColumn:
    """Exact decimals: ``ints × 10^-places``; ``text`` as the value prints (``f"{Decimal:f}"``),
    empty where ``present`` is False."""

    ints: np.ndarray
    places: int
    present: np.ndarray
    text: np.ndarray

    def take(self, order: np.ndarray) -> DecimalColumn:
        return DecimalColumn(self.ints[order], self.places, self.present[order], self.text[order])


def decimal_column(texts: np.ndarray, what: str) -> DecimalColumn:
    """A column of plain decimal texts (``S`` array, empty = absent) as exact integers."""
    parsed = tc.decimal_ints(texts)
    if parsed is None:
        raise NotColumnar(f"{what}: a value is not plain decimal text of at most 18 digits")
    digits, decimals, present = parsed
    if len(texts) and not present.any():  # a field no delivery has (fat without a fat scheme): no memory
        nothing = np.broadcast_to(np.zeros(1, dtype=np.int64), (len(texts),))
        return DecimalColumn(nothing, 0, np.broadcast_to(np.zeros(1, dtype=bool), (len(texts),)), texts)
    places = int(decimals.max()) if len(decimals) else 0
    ints = tc.at_scale(digits, decimals, places)
    if ints is None:
        raise NotColumnar(f"{what}: values too large for 64-bit integers")
    return DecimalColumn(ints, places, present, texts)


@dataclass(frozen=True, slots=True)
class DeliveryColumns:
    """A period's deliveries as columns, sorted by producer, time (to the microsecond) and id.

    ``producers`` are the distinct codes, sorted; ``code`` indexes them.
    Text columns are UTF-8 ``S`` arrays; ``ts_ns`` nanoseconds since the
    epoch; ``seq`` the position in which the delivery was read (errors name
    the first bad delivery in reading order, as the other engines do).
    """

    producers: list[str]
    code: np.ndarray
    id: np.ndarray
    ts_ns: np.ndarray
    liters: DecimalColumn
    solids: DecimalColumn
    temp: DecimalColumn
    fat: DecimalColumn
    weight: DecimalColumn
    accepted: np.ndarray
    reject_reason: np.ndarray
    receipt_code: np.ndarray
    seq: np.ndarray
    outside_period: int = 0

    def __len__(self) -> int:
        return len(self.ts_ns)


def build_columns(columns: dict[str, np.ndarray], outside_period: int = 0) -> DeliveryColumns:
    """Columns in reading order -> `DeliveryColumns` sorted by producer, time and id.

    ``columns``: ``producer``, ``id``, ``reject_reason``, ``receipt_code`` (``S``
    arrays of UTF-8 text), ``liters``, ``solids_pct``, ``milk_temp_c``,
    ``fat_pct``, ``weight_kg`` (plain decimal text, empty when absent; a
    column left out is absent everywhere), ``ts_ns`` (int64) and ``accepted`` (bool). The dict is emptied as each column is sorted, so
    that a basin's columns are held once, not twice.
    """
    if len(columns["liters"]) and not (tc.lengths(columns["liters"]) > 0).all():
        raise NotColumnar("a delivery without litres")
    if "weight_kg" not in columns:
        columns["weight_kg"] = np.zeros(len(columns["liters"]), dtype="S1")
    names, code = _unique_texts(columns.pop("producer"))
    ts_ns = columns.pop("ts_ns")
    order = _order(code, ts_ns // 1000, columns["id"])

    def sorted_(name: str) -> np.ndarray:
        return columns.pop(name)[order]

    def sorted_decimal(name: str) -> DecimalColumn:
        return decimal_column(columns.pop(name)[order], name)

    return DeliveryColumns(
        producers=[name.decode("utf-8") for name in names.tolist()],
        code=code.astype(np.int32)[order], id=sorted_("id"), ts_ns=ts_ns[order],
        liters=sorted_decimal("liters"), solids=sorted_decimal("solids_pct"), temp=sorted_decimal("milk_temp_c"),
        fat=sorted_decimal("fat_pct"), weight=sorted_decimal("weight_kg"), accepted=sorted_("accepted"), reject_reason=sorted_("reject_reason"),
        receipt_code=sorted_("receipt_code"), seq=order.astype(np.int32 if len(order) < 2**31 else np.int64),
        outside_period=outside_period)


def _unique_texts(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(texts, return_inverse=True)``; short texts sorted as big-endian integers (the
    same byte order, much faster than comparing strings)."""
    width = texts.dtype.itemsize
    if len(texts) and 0 < width <= 8:
        padded = np.zeros((len(texts), 8), dtype=np.uint8)
        padded[:, :width] = tc.as_matrix(texts)
        keys, code = np.unique(padded.view(">u8").reshape(-1), return_inverse=True)
        return keys.astype(">u8").view(np.uint8).reshape(-1, 8).view("S8").reshape(-1), code.reshape(-1)
    names, code = np.unique(texts, return_inverse=True)
    return names, code.reshape(-1)


def _order(code: np.ndarray, ts_us: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The order by producer, time and id: one integer sort, the ids only where a producer has two
    deliveries in one microsecond."""
    if not len(code):
        return np.zeros(0, dtype=np.int64)
    span = int(ts_us.max() - ts_us.min()) + 1
    if span * (int(code.max()) + 1) >= 2**62:
        return np.lexsort((ids, ts_us, code))
    key = code.astype(np.int64) * span + (ts_us - ts_us.min())
    order = np.argsort(key, kind="stable")
    if (np.diff(key[order]) == 0).any():
        return np.lexsort((ids, ts_us, code))
    return order


def _texts(values: Iterable[str | None]) -> np.ndarray:
    texts = [(v or "").encode("utf-8") for v in values]
    if any(b"\0" in text for text in texts):
        raise NotColumnar("a text with a NUL character")
    return np.array(texts, dtype="S")


def _decimal_texts(values: Iterable[Decimal | None]) -> np.ndarray:
    return np.array([b"" if v is None else f"{v:f}".encode() for v in values], dtype="S")


def columns_from_deliveries(deliveries: Iterable[Delivery], period: Period, tz: ZoneInfo) -> DeliveryColumns:
    """`DeliveryColumns` of the deliveries inside ``period`` (others counted, as the engines do),
    from records (the deliveries CSV reader's, which validates every field)."""
    start, end = period.bounds(tz)
    inside = []
    outside = 0
    for d in deliveries:
        if start <= d.ts < end:
            inside.append(d)
        else:
            outside += 1
    return build_columns({
        "producer": _texts(d.producer for d in inside), "id": _texts(d.id for d in inside),
        "ts_ns": np.array([_ns(d.ts) for d in inside], dtype=np.int64),
        "liters": _decimal_texts(d.liters for d in inside), "solids_pct": _decimal_texts(d.solids_pct for d in inside),
        "milk_temp_c": _decimal_texts(d.milk_temp_c for d in inside), "fat_pct": _decimal_texts(d.fat_pct for d in inside),
        "weight_kg": _decimal_texts(d.weight_kg for d in inside),
        "accepted": np.array([d.accepted for d in inside], dtype=bool),
        "reject_reason": _texts(d.reject_reason for d in inside), "receipt_code": _texts(d.receipt_code for d in inside),
    }, outside)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# -- pricing ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PricedColumns:
    """Per delivery: the value (int at ``scale``), its pricing combination, TS as priced."""

    value: np.ndarray
    scale: int
    combo: np.ndarray  # index into the combination tables; -1 for a rejected delivery
    combo_solids: list[Decimal]
    combo_chilled: list[bool]
    combo_shown: list[Decimal]  # the rate printed on the line (chilled bonus included per litre)
    solids_h: np.ndarray  # TS as priced, in hundredths (0 when absent)
    chilled: np.ndarray
    # Per statement row (the fortnight's rows, then TOTAL) the integers statements.csv prints:
    # deliveries, rejected, then litres, average TS (-1: none), gross, fees, deductions,
    # carried over and net in hundredths. Set by `compute_columns` (None when int64 cannot hold them).
    row_ints: np.ndarray | None = None
    # A scheme whose quantity is not the litres (per kg of solids): each accepted delivery's
    # quantity as an integer at its own number of decimals (those of the Decimal the scheme's
    # code gives, which lines.csv prints), and the effective price per litre
    # (`explain.effective_price_per_liter`) at `explain.PRICE_PLACES`; None for litre schemes.
    quantity: np.ndarray | None = None
    quantity_places: np.ndarray | None = None
    per_liter: np.ndarray | None = None


def _half_up_2(column: DecimalColumn) -> np.ndarray:
    """A percentage column rounded half-up to hundredths (as `pricing.round_pct`)."""
    return tc.half_up(column.ints, column.places, 2)


def _compare_scale(column: DecimalColumn, limit: Decimal) -> tuple[np.ndarray, int]:
    """The column and ``limit`` as integers at one scale: (column ints, limit int)."""
    places = max(column.places, _places([limit]))
    ints = tc.at_scale(column.ints, np.full(len(column.ints), column.places), places)
    if ints is None:
        raise NotColumnar("values too large to compare")
    return ints, int(limit.scaleb(places))


def refusal(pricing: Pricing) -> str | None:
    """Why this pricing needs the per-delivery path (None: the columns can price it): a scheme
    that does not say its rate depends only on its rate key (`can_vectorise`), or whose quantity
    is neither of the two the columns compute (`_known_quantity`)."""
    if not can_vectorise(pricing):
        return f"scheme {pricing.scheme.name}: not vectorised"
    if not _known_quantity(pricing.scheme):
        return f"scheme {pricing.scheme.name}: a quantity the columns do not compute"
    return None


def _known_quantity(scheme) -> bool:
    """Whether the scheme's quantity is one the columns compute: the delivery's litres (unit
    ``L``), or kg of solids = kg × TS/100, kg as weighed, else litres × ``kg_per_liter`` (unit
    ``kg_solids``). Asked of the scheme's own code on a probe delivery, so that a new scheme
    with another quantity is priced by the reference engine, never by a wrong formula."""
    liters, weight, solids = Decimal("37.25"), Decimal("38.41"), Decimal("11.57")
    try:
        if scheme.unit == "L":
            return scheme.quantity(liters, None, solids) is liters and scheme.quantity(liters, weight, solids) is liters
        if scheme.unit == "kg_solids":
            kg_per_liter = getattr(scheme, "kg_per_liter", None)
            with localcontext(EXACT):
                weighed = scheme.quantity(liters, weight, solids) == weight * solids / 100
                return weighed and (kg_per_liter is None
                                    or scheme.quantity(liters, None, solids) == liters * kg_per_liter * solids / 100)
    except (ValueError, TypeError, AttributeError):
        return False
    return False


def _own_decimals(column: DecimalColumn) -> tuple[np.ndarray, np.ndarray]:
    """Each value as an integer at its own number of decimals (as its Decimal has them), and
    those decimals (0 where absent): the column's integers divided back (exact: trailing zeros)."""
    parsed = tc.decimal_ints(column.text)
    if parsed is None:
        raise NotColumnar("a value is not plain decimal text")
    places = np.where(parsed[2], parsed[1], column.places)
    return column.ints // tc.POW10[column.places - places], np.where(parsed[2], places, 0)


def _kg_solids(cols: DeliveryColumns, pricing: Pricing, solids_h: np.ndarray,
               accepted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """kg of solids of each accepted delivery (`pricing.PerKgSolids.quantity`: kg × TS/100, kg as
    weighed, else litres × ``kg_per_liter``): (ints at their own decimals, those decimals, ints at
    the common scale, that scale). The decimals are those of the Decimal product: the kg's
    (weighed, or litres' + kg_per_liter's) + 2 for TS in hundredths + 2 for the /100."""
    kg_per_liter = pricing.scheme.kg_per_liter
    weighed = cols.weight.present
    kg_ints, kg_places = _own_decimals(cols.weight)
    kg_ints = np.where(weighed, kg_ints, 0)
    if kg_per_liter is not None and not weighed.all():
        per_liter_places = _places([kg_per_liter])
        per_liter_int = int(kg_per_liter.scaleb(per_liter_places))
        liters_own, liter_places = _own_decimals(cols.liters)
        _check_product(liters_own, np.array([per_liter_int]))
        kg_ints = np.where(weighed, kg_ints, liters_own * per_liter_int)
        kg_places = np.where(weighed, kg_places, liter_places + per_liter_places)
    own = np.where(accepted, kg_ints, 0)
    _check_product(own, np.array([max(int(solids_h.max()) if len(solids_h) else 0, 1)]))
    own = own * np.where(accepted, solids_h, 0)
    places = np.where(accepted, kg_places + 4, 0)
    scale = int(places.max()) if len(places) else 0
    shift = scale - places
    if scale > 18 or (np.abs(own) >= _SAFE // tc.POW10[shift]).any():  # row by row: the shifts differ a lot
        raise NotColumnar("kg of solids too large for 64-bit integers")
    return own, places, own * tc.POW10[shift], scale


def _first_unpriceable(cols: DeliveryColumns, pricing: Pricing) -> None:
    """The error of the reference engine for the first accepted delivery (in reading order)
    that lacks a measure the scheme needs, raised by the same rule (`pricing.price_delivery`)."""
    scheme = pricing.scheme
    accepted = cols.accepted
    missing = accepted & ~cols.solids.present
    if "fat_pct" in scheme.needs:
        missing |= accepted & ~cols.fat.present
    if scheme.unit != "L" and getattr(scheme, "kg_per_liter", None) is None:
        missing |= accepted & ~cols.weight.present
    if not missing.any():
        return
    i = int(np.flatnonzero(missing)[np.argmin(cols.seq[missing])])
    one = Decimal(1)
    try:  # the measures it has, as any value: only what is missing decides the error
        price_delivery(pricing, one, one if cols.solids.present[i] else None, True, None,
                       one if cols.weight.present[i] else None, one if cols.fat.present[i] else None)
    except ValueError as exc:
        raise PaymentsError(Text("delivery", id=cols.id[i].decode(), producer=cols.producers[cols.code[i]],
                                 reason=reason_of(exc))) from None


def price_columns(cols: DeliveryColumns, pricing: Pricing) -> PricedColumns:
    """Price every delivery: each distinct (TS, fat, chilled) once by the scheme, values by numpy."""
    scheme = pricing.scheme
    why = refusal(pricing)
    if why:
        raise NotColumnar(why)
    n = len(cols)
    accepted = cols.accepted
    if ((cols.solids.ints < 0) & cols.solids.present).any() or ((cols.fat.ints < 0) & cols.fat.present).any():
        raise NotColumnar("a negative percentage")
    _first_unpriceable(cols, pricing)
    solids_h = np.where(cols.solids.present, _half_up_2(cols.solids), 0)
    fat_h = np.where(cols.fat.present, _half_up_2(cols.fat), -1)  # -1: no fat
    bonus = chilled_bonus(pricing, True)
    if bonus > 0 and pricing.chilled_max_temp_c is not None and len(cols):
        temps, most = _compare_scale(cols.temp, pricing.chilled_max_temp_c)
        chilled = accepted & cols.temp.present & (temps <= most)
    else:
        chilled = np.zeros(n, dtype=bool)

    combo = np.full(n, -1, dtype=np.int32)
    combo_solids: list[Decimal] = []
    combo_chilled: list[bool] = []
    combo_shown: list[Decimal] = []
    combo_rate: list[int] = []
    keys: dict = {}
    rates: list[Decimal] = [ZERO]
    if accepted.any():
        unique, inverse = _unique_rows(solids_h[accepted], fat_h[accepted], chilled[accepted].astype(np.int64))
        combo[accepted] = inverse
        with localcontext(EXACT):
            for s_h, f_h, is_chilled in unique:
                solids = Decimal(s_h).scaleb(-2)
                fat = None if f_h < 0 else Decimal(f_h).scaleb(-2)
                key = (scheme.rate_key(solids, fat), bool(is_chilled))
                if key not in keys:
                    try:
                        rate = scheme.rate(solids, fat)
                    except ValueError as exc:
                        first = int(np.flatnonzero(combo == len(combo_solids))[0])
                        raise PaymentsError(Text("delivery", id=cols.id[first].decode(),
                                                 producer=cols.producers[cols.code[first]],
                                                 reason=reason_of(exc))) from None
                    keys[key] = rate
                    rates.append(rate)
                combo_solids.append(solids)
                combo_chilled.append(bool(is_chilled))
                combo_shown.append(shown_rate(pricing, keys[key], bool(is_chilled)))
                combo_rate.append(keys[key])
    rate_places = _places(rates)
    rate_ints = np.array([int(r.scaleb(rate_places)) for r in combo_rate] + [0], dtype=object)
    if len(combo_rate) and max(abs(int(r)) for r in rate_ints) >= _SAFE:
        raise NotColumnar("a rate too large for 64-bit integers")
    rate_of = rate_ints.astype(np.int64)[combo]  # combo -1 -> the trailing 0
    liters = np.where(accepted, cols.liters.ints, 0)
    quantity = quantity_places = None
    if scheme.unit == "L":  # the quantity is the litres
        quantity_ints, quantity_scale = liters, cols.liters.places
    else:
        quantity, quantity_places, quantity_ints, quantity_scale = _kg_solids(cols, pricing, solids_h, accepted)
    quality_scale = quantity_scale + rate_places
    value = _value_product(quantity_ints, rate_of)
    scale = quality_scale
    if bonus:
        bonus_places = _places([bonus])
        bonus_int = int(bonus.scaleb(bonus_places))
        bonus_value = _value_product(liters * chilled, bonus_int)
        bonus_scale = cols.liters.places + bonus_places
        scale = max(quality_scale, bonus_scale)
        value = _rescaled(value, scale - quality_scale) + _rescaled(bonus_value, scale - bonus_scale)
    per_liter = None if scheme.unit == "L" else _per_liter(value, scale, liters, cols.liters.places)
    return PricedColumns(value, scale, combo, combo_solids, combo_chilled, combo_shown, solids_h, chilled,
                         quantity=quantity, quantity_places=quantity_places, per_liter=per_liter)


def _per_liter(value: np.ndarray, scale: int, liters: np.ndarray, liter_places: int) -> np.ndarray:
    """value / litres rounded half-up to `explain.PRICE_PLACES` decimals (`money.mean_half_up`),
    as integers at those places; 0 where nothing was earned (no value or no litres)."""
    earns = (value > 0) & (liters > 0)
    numerator = value[earns].astype(object) * 10 ** (PRICE_PLACES + liter_places)
    denominator = liters[earns].astype(object) * 10**scale
    # Python integers: value × 10^(places + litres' decimals) outgrows int64 easily; a few
    # hundred thousand divisions of small integers cost well under a second.
    quotient = (2 * numerator + denominator) // (2 * denominator)
    out = np.zeros(len(value), dtype=np.int64)
    if len(quotient) and max(quotient) >= _SAFE:
        raise NotColumnar("a price per litre too large for 64-bit integers")
    out[earns] = quotient.astype(np.int64)
    return out


def _unique_rows(*columns: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct rows of integer columns, sorted, and each row's index among them (one
    integer key when the columns' ranges allow, which sorts much faster than rows)."""
    lows = [int(c.min()) for c in columns]
    spans = [int(c.max()) - low + 1 for c, low in zip(columns, lows)]
    total = 1
    for span in spans:
        total *= span
    if total >= 2**62:
        unique, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
        return [tuple(row) for row in unique.tolist()], inverse.reshape(-1)
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for c, low, span in zip(columns, lows, spans):
        key = key * span + (c - low)
    keys, inverse = np.unique(key, return_inverse=True)
    rows = []
    for k in keys.tolist():
        row = []
        for low, span in zip(reversed(lows), reversed(spans)):
            k, digit = divmod(k, span)
            row.append(digit + low)
        rows.append(tuple(reversed(row)))
    return rows, inverse.reshape(-1)


def _check_product(a: np.ndarray, b: np.ndarray, limit: int = _SAFE // 4) -> None:
    """NotColumnar unless every product of ``a`` and ``b`` stays below ``limit`` (room for the sums
    and differences that follow)."""
    if len(a) and len(b) and int(np.abs(a).max()) * int(np.abs(b).max()) >= limit:
        raise NotColumnar("values too large for 64-bit integers")


_VALUE_LIMIT = _SAFE // 2  # a value and its chilled bonus, each below it, add up below 2^62


def _value_product(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """``a × b`` elementwise, exact: int64 when every product stays below `_VALUE_LIMIT`, else
    Python integers in an object array (slower, still exact: per kg of solids, many decimals of
    litres times those of ``kg_per_liter`` times TS can outgrow int64). The bound of the largest
    factors is checked first; past it the products are computed exactly and kept as int64 when
    each fits (the largest quantity and the largest rate are seldom on one delivery)."""
    b = np.asarray(b) if isinstance(b, np.ndarray) else np.asarray(b, dtype=np.int64)
    if a.dtype != object and b.dtype != object and (
            not len(a) or int(np.abs(a).max()) * int(np.abs(b).max(initial=0)) < _VALUE_LIMIT):
        return a * b
    exact = a.astype(object) * b.astype(object)
    if not len(exact) or max(abs(int(v)) for v in exact) < _VALUE_LIMIT:
        return exact.astype(np.int64)
    return exact


def _rescaled(ints: np.ndarray, by: int) -> np.ndarray:
    return ints if by == 0 else _value_product(ints, 10**by)


# -- the fortnight ------------------------------------------------------------------------------

def _sums(values: np.ndarray, starts: np.ndarray) -> list[int]:
    """Exact per-producer sums (rows sorted by producer, ``starts`` of each producer)."""
    if not len(starts):
        return []
    if len(values) and int(np.abs(values).max()) * len(values) >= _SAFE:
        return [int(v) for v in np.add.reduceat(values.astype(object), starts)]
    return np.add.reduceat(values, starts).tolist()


def compute_columns(period: Period, cols: DeliveryColumns, pricing: Pricing, advances: Iterable = (),
                    carried_in: Mapping[str, Decimal] | None = None,
                    adjustments: Iterable[Adjustment] = ()) -> tuple[Fortnight, PricedColumns]:
    """The fortnight of `engine.compute_fortnight` (rows without per-delivery lines) and the
    priced columns lines.csv and the checks are written from."""
    priced = price_columns(cols, pricing)
    names = cols.producers
    groups = len(names)
    starts = np.searchsorted(cols.code, np.arange(groups)) if groups else np.zeros(0, dtype=np.int64)
    liters = np.where(cols.accepted, cols.liters.ints, 0)
    _check_product(liters, np.array([max(int(priced.solids_h.max()) if len(liters) else 0, 1)]))
    value_sums = _sums(priced.value, starts)
    liter_sums = _sums(liters, starts)
    solids_sums = _sums(liters * np.where(cols.accepted, priced.solids_h, 0), starts)
    counts = np.diff(np.append(starts, len(cols))).tolist()
    rejected = _sums((~cols.accepted).astype(np.int64), starts)
    code_of = {name: i for i, name in enumerate(names)}
    liter_places = cols.liters.places
    with localcontext(EXACT):
        charges, balances, adjusted, producers = producers_and_dues(names, advances, period, carried_in,
                                                                    adjustments)
        rows: list[ProducerRow] = []
        row_ints: list[tuple[int, ...]] = []
        total_solids = 0
        for producer in producers:
            code = code_of.get(producer)
            if code is None:
                value_exact, liters_exact, solids_liters, n, r = ZERO, ZERO, ZERO, 0, 0
            else:
                value_exact = Decimal(value_sums[code]).scaleb(-priced.scale)
                liters_exact = Decimal(liter_sums[code]).scaleb(-liter_places)
                solids_liters = Decimal(solids_sums[code]).scaleb(-liter_places - 2)
                n, r = counts[code], rejected[code]
                total_solids += solids_sums[code]
            if code is not None and producer not in charges and producer not in balances \
                    and producer not in adjusted:
                row, ints = _plain_row(producer, n, r, value_sums[code], priced.scale, liter_sums[code],
                                       liter_places, solids_sums[code], pricing.contribution_per_liter)
                rows.append(row)
                row_ints.append(ints)
                continue
            rows.append(settle_producer(
                producer, deliveries=n, rejected=r, liters_exact=liters_exact, solids_liters=solids_liters,
                value_exact=value_exact, contribution_per_liter=pricing.contribution_per_liter,
                charges=charges.get(producer, []), carried_in=balances.get(producer, ZERO),
                adjustments=adjusted.get(producer, [])))
            row_ints.append(_printed_ints(rows[-1]))
        total = total_row(rows, Decimal(total_solids).scaleb(-liter_places - 2))
        row_ints.append(_printed_ints(total))
    try:
        printed = np.array(row_ints, dtype=np.int64)
    except OverflowError:  # amounts int64 cannot hold: the Decimal writers print them
        printed = None
    priced = replace(priced, row_ints=printed)
    return Fortnight(period, pricing, tuple(rows), total, cols.outside_period), priced


def compute_fortnight_columnar(
    period: Period,
    deliveries: Iterable[Delivery],
    pricing: Pricing,
    advances: Iterable = (),
    carried_in: Mapping[str, Decimal] | None = None,
    adjustments: Iterable[Adjustment] = (),
    lines: bool = True,
) -> Fortnight:
    """`engine.compute_fortnight`, vectorised: the same inputs and the same `Fortnight`.
    ``lines=False`` leaves out the per-delivery lines (statements.csv does not need them; the
    printable statements do).

    Inputs the columns do not take (`NotColumnar`) and a scheme that does not say it can be
    vectorised (`can_vectorise`) are priced by the Decimal engine (with its lines): slower,
    never wrong.
    """
    all_deliveries = list(deliveries)
    advances, adjustments = list(advances), list(adjustments)
    if not can_vectorise(pricing):
        return compute_fortnight(period, all_deliveries, pricing, advances, carried_in, adjustments)
    start, end = period.bounds(pricing.timezone)
    inside = [d for d in all_deliveries if start <= d.ts < end]
    try:
        cols = columns_from_deliveries(inside, period, pricing.timezone)
        fortnight, priced = compute_columns(period, cols, pricing, advances, carried_in, adjustments)
    except NotColumnar:
        return compute_fortnight(period, all_deliveries, pricing, advances, carried_in, adjustments)
    fortnight = replace(fortnight, outside_period=len(all_deliveries) - len(inside))
    if not lines:
        return fortnight
    by_producer = _delivery_lines(inside, cols, priced, pricing)
    rows = tuple(replace(row, lines=by_producer[row.producer]) if row.producer in by_producer else row
                 for row in fortnight.rows)
    return replace(fortnight, rows=rows)


def _delivery_lines(inside: Sequence[Delivery], cols: DeliveryColumns, priced: PricedColumns,
                    pricing: Pricing) -> dict[str, tuple[DeliveryLine, ...]]:
    """Each producer's lines, by time and id (the columns' order), from the records and the prices."""
    tz = pricing.timezone
    scheme = pricing.scheme
    unit = scheme.unit
    shown = [*priced.combo_shown, ZERO]  # combo -1 (rejected) -> 0
    solids = [*priced.combo_solids]
    by_producer: dict[str, list[DeliveryLine]] = {}
    values = priced.value.tolist()
    combos = priced.combo.tolist()
    chilled = priced.chilled.tolist()
    hundredths = priced.solids_h.tolist()
    present = cols.solids.present.tolist()
    codes = cols.code.tolist()
    with localcontext(EXACT):
        for k, i in enumerate(cols.seq.tolist()):
            d = inside[i]
            combo = combos[k]
            if combo >= 0:
                rounded = solids[combo]
                quantity = d.liters if unit == "L" else scheme.quantity(d.liters, d.weight_kg, rounded)
            else:
                rounded = Decimal(hundredths[k]).scaleb(-2) if present[k] else None
                quantity = ZERO
            by_producer.setdefault(cols.producers[codes[k]], []).append(DeliveryLine(
                id=d.id, ts=d.ts.astimezone(tz), liters=d.liters, solids_pct=rounded, price_per_liter=shown[combo],
                value=Decimal(values[k]).scaleb(-priced.scale), accepted=d.accepted,
                reject_reason=d.reject_reason, chilled=chilled[k], milk_temp_c=d.milk_temp_c,
                receipt_code=d.receipt_code, unit=unit, quantity=quantity))
    return {producer: tuple(found) for producer, found in by_producer.items()}


def _cents(value: Decimal) -> int:
    """An amount as printed (half-up to the cent), in cents."""
    return int(round_half_up(value).scaleb(2))


def _printed_ints(row: ProducerRow) -> tuple[int, ...]:
    average = -1 if row.avg_solids_pct is None else _cents(row.avg_solids_pct)
    return (row.deliveries, row.rejected, _cents(row.liters_exact), average, _cents(row.gross), _cents(row.fees),
            _cents(row.deductions), _cents(row.carried_over), _cents(row.net))


def _half_up_int(ints: int, scale: int, places: int = 2) -> int:
    """An integer at ``scale`` rounded half-up (away from zero) to ``places`` decimals."""
    if scale <= places:
        return ints * 10 ** (places - scale)
    unit = 10 ** (scale - places)
    magnitude = (abs(ints) + unit // 2) // unit
    return -magnitude if ints < 0 else magnitude


def _plain_row(producer: str, deliveries: int, rejected: int, value: int, scale: int, liters: int,
               liter_places: int, solids_liters: int, contribution: Decimal) -> tuple[ProducerRow, tuple[int, ...]]:
    """`engine.settle_producer` for a producer with nothing due (no advance, no balance, no
    adjustment), in integers: gross and fees to the cent, no deductions, net = gross − fees;
    with the integers the row prints (see `PricedColumns.row_ints`)."""
    gross = _half_up_int(value, scale)
    contribution_places = _places([contribution])
    fees = min(_half_up_int(liters * int(contribution.scaleb(contribution_places)),
                            liter_places + contribution_places), gross)
    average = -1
    if liters > 0:  # mean_half_up(Σ litres × TS, Σ litres) to hundredths
        average = (2 * solids_liters + liters) // (2 * liters)
    row = ProducerRow(
        producer=producer, deliveries=deliveries, rejected=rejected,
        liters_exact=Decimal(liters).scaleb(-liter_places),
        avg_solids_pct=None if average < 0 else Decimal(average).scaleb(-2),
        gross=Decimal(gross).scaleb(-2), fees=Decimal(fees).scaleb(-2), deductions=ZERO, carried_over=ZERO,
        net=Decimal(gross - fees).scaleb(-2), carried_in=ZERO, due=ZERO)
    printed = (deliveries, rejected, _half_up_int(liters, liter_places), average, gross, fees, 0, 0, gross - fees)
    return row, printed


# -- lines.csv ----------------------------------------------------------------------------------

class _Offsets:
    """UTC offsets in one time zone over a span of times, and how `datetime.isoformat` writes them.

    Looked up once per hour of the span (a fortnight has about 360); in an
    hour in which the offset changes (daylight saving time) per delivery.
    """

    CHANGES = -10**9

    def __init__(self, ts_ns: np.ndarray, tz: ZoneInfo) -> None:
        self.tz = tz
        self.suffix_of: dict[int, bytes] = {}
        self.first_hour = int(ts_ns.min()) // 3_600_000_000_000 if len(ts_ns) else 0
        hours = int(ts_ns.max()) // 3_600_000_000_000 - self.first_hour + 1 if len(ts_ns) else 0
        self.by_hour = np.empty(hours, dtype=np.int64)
        for i in range(hours):
            hour = (self.first_hour + i) * 3600
            first, last = datetime.fromtimestamp(hour, tz), datetime.fromtimestamp(hour + 3599, tz)
            same = first.utcoffset() == last.utcoffset()
            self.by_hour[i] = int(first.utcoffset().total_seconds()) if same else self.CHANGES
            for moment in (first, last):
                self.suffix_of.setdefault(int(moment.utcoffset().total_seconds()), moment.isoformat()[19:].encode())

    def of(self, ts_ns: np.ndarray) -> np.ndarray:
        """The offset (seconds) of each time of the span."""
        offsets = self.by_hour[ts_ns // 3_600_000_000_000 - self.first_hour]
        for i in np.flatnonzero(offsets == self.CHANGES).tolist():
            moment = datetime.fromtimestamp(int(ts_ns[i]) // 1_000_000_000, self.tz)
            offsets[i] = int(moment.utcoffset().total_seconds())
            self.suffix_of.setdefault(int(offsets[i]), moment.isoformat()[19:].encode())
        return offsets


def _local_times(ts_ns: np.ndarray, zone: _Offsets) -> list[np.ndarray]:
    """``datetime.isoformat()`` of each time at its UTC offset (microseconds when not 0), as pieces
    for `textcols.join_rows`: the civil date and time computed in integers (days to year, month
    and day as in H. Hinnant's ``civil_from_days``)."""
    n = len(ts_ns)
    offsets = zone.of(ts_ns)
    suffix_of = zone.suffix_of
    local = ts_ns // 1_000_000_000 + offsets
    micros = (ts_ns % 1_000_000_000) // 1000
    days, clock = np.divmod(local, 86400)
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    if n and (year.min() < 1 or year.max() > 9999):
        raise NotColumnar("a time outside years 1-9999")
    stamp = np.empty((n, 19), dtype=np.uint8)
    stamp[:, 0:4] = tc.digit_matrix(year, 4)
    stamp[:, 5:7] = tc.digit_matrix(month, 2)
    stamp[:, 8:10] = tc.digit_matrix(day, 2)
    stamp[:, 11:13] = tc.digit_matrix(clock // 3600, 2)
    stamp[:, 14:16] = tc.digit_matrix(clock // 60 % 60, 2)
    stamp[:, 17:19] = tc.digit_matrix(clock % 60, 2)
    stamp[:, [4, 7]] = ord("-")
    stamp[:, 10] = ord("T")
    stamp[:, [13, 16]] = ord(":")
    fraction = np.empty((n, 7), dtype=np.uint8)
    fraction[:, 0] = ord(".")
    fraction[:, 1:] = tc.digit_matrix(micros, 6)
    fraction *= (micros > 0)[:, None]  # no fraction when the microseconds are 0
    keys = sorted(suffix_of)
    if not keys:
        return [stamp, fraction]
    table = np.array([suffix_of[k] for k in keys], dtype="S")
    return [stamp, fraction, table[np.searchsorted(np.array(keys, dtype=np.int64), offsets)]]


def _plain_text(value: Decimal | None) -> bytes:
    return b"" if value is None else f"{value:f}".encode()


def _parts_table(pricing: Pricing, priced: PricedColumns) -> list[np.ndarray]:
    """Per pricing combination (last row: rejected) the cells base, tenths, solids, chilled,
    unit, rate of lines.csv (as `explain.lines_csv_text` computes them)."""
    unit = pricing.scheme.unit
    rows = []
    for solids, is_chilled, shown in zip(priced.combo_solids, priced.combo_chilled, priced.combo_shown):
        line = DeliveryLine(id="", ts=_EPOCH, liters=ZERO, solids_pct=solids, price_per_liter=shown, value=ZERO,
                            accepted=True, reject_reason=None, chilled=is_chilled, milk_temp_c=None, unit=unit)
        parts = price_parts(pricing, line)
        rows.append([_plain_text(parts.base_per_liter),
                     b"" if parts.solids_tenths is None else str(parts.solids_tenths).encode(),
                     _plain_text(parts.solids_per_liter), _plain_text(parts.chilled_per_liter),
                     unit.encode(), _plain_text(parts.rate_per_unit)])
    rows.append([b"", b"", b"", b"", unit.encode(), b""])
    return [np.array([row[j] for row in rows], dtype="S") for j in range(6)]


def _quoted_table(values: Sequence[str]) -> np.ndarray:
    return tc.csv_quoted(np.array([v.encode("utf-8") for v in values] or [b""], dtype="S"))


def lines_csv_chunks(fortnight: Fortnight, cols: DeliveryColumns, priced: PricedColumns,
                     names: Mapping[str, str] | None = None, rows_per_chunk: int = LINES_PER_WRITE) -> Iterable[bytes]:
    """lines.csv (`explain.lines_csv_text`, byte for byte), in pieces of ``rows_per_chunk`` lines."""
    pricing = fortnight.pricing
    yield (",".join(LINE_COLUMNS) + "\n").encode()
    producers = _quoted_table(cols.producers)
    people = _quoted_table([(names or {}).get(p, "") for p in cols.producers])
    parts = _parts_table(pricing, priced)
    shown = np.array([_plain_text(rate) for rate in priced.combo_shown] + [b"0"], dtype="S")
    period = np.asarray(str(fortnight.period).encode())
    empty, true, false = (np.asarray(v) for v in (b"", b"true", b"false"))
    ids = tc.csv_quoted(cols.id)
    codes = tc.csv_quoted(cols.receipt_code)
    reasons = tc.csv_quoted(cols.reject_reason)
    zone = _Offsets(cols.ts_ns, pricing.timezone)
    for start in range(0, len(cols), rows_per_chunk):
        part = slice(start, min(start + rows_per_chunk, len(cols)))
        n = part.stop - part.start
        code = cols.code[part]
        accepted = cols.accepted[part]
        combo = priced.combo[part]  # -1 (rejected) picks the tables' last row
        value = priced.value[part]
        liters = cols.liters.ints[part]
        solids_present = cols.solids.present[part]
        solids = tc.fixed_text(priced.solids_h[part], 2) * solids_present[:, None]  # empty when no TS
        price, quantity = _price_and_quantity(cols, priced, shown, part)
        yield tc.join_rows([
            period, producers[code], people[code], ids[part], codes[part], _local_times(cols.ts_ns[part], zone),
            cols.liters.text[part], solids, np.where(accepted, true, false), price,
            tc.fixed_text(tc.half_up(value, priced.scale, 2).astype(np.int64), 2), _exact_text(value, priced.scale),
            parts[0][combo], parts[1][combo], parts[2][combo], parts[3][combo], parts[4][combo],
            quantity, parts[5][combo], cols.temp.text[part], reasons[part], empty,
        ], n)


def _exact_text(ints: np.ndarray, scale: int) -> np.ndarray:
    """`textcols.fixed_text`, also for Python integers beyond int64 (object arrays, formatted one by one)."""
    if ints.dtype != object:
        return tc.fixed_text(ints, scale)
    return np.array([f"{Decimal(int(v)).scaleb(-scale):f}".encode() for v in ints], dtype="S")


def _price_and_quantity(cols: DeliveryColumns, priced: PricedColumns, shown: np.ndarray,
                        part: slice) -> tuple[np.ndarray, np.ndarray]:
    """lines.csv's price per litre (`explain.effective_price_per_liter`) and quantity cells."""
    accepted = cols.accepted[part]
    if priced.quantity is None:  # a litre scheme: the line's rate and its litres
        earns = accepted & (priced.value[part] != 0) & (cols.liters.ints[part] != 0)
        return np.where(earns, shown[priced.combo[part]], b"0"), np.where(accepted, cols.liters.text[part], b"0")
    price = tc.fixed_text(priced.per_liter[part], PRICE_PLACES)
    nothing = ~(accepted & (priced.value[part] != 0) & (cols.liters.ints[part] != 0))
    price[nothing] = 0
    price[nothing, 0] = ord("0")  # nothing earned: "0", as ZERO prints
    return price, _own_decimals_text(priced.quantity[part], priced.quantity_places[part])


def _own_decimals_text(ints: np.ndarray, places: np.ndarray) -> np.ndarray:
    """Integers each at its own number of decimals as text (``f"{Decimal:f}"``), one matrix."""
    pieces = {int(p): tc.fixed_text(ints[places == p], int(p)) for p in np.unique(places).tolist()}
    width = max((m.shape[1] for m in pieces.values()), default=1)
    out = np.zeros((len(ints), width), dtype=np.uint8)
    for p, matrix in pieces.items():
        out[places == p, :matrix.shape[1]] = matrix
    return out


# -- statements.csv and the console table ---------------------------------------------------------

def _row_cells(fortnight: Fortnight, priced: PricedColumns) -> tuple[list[str], list[np.ndarray]]:
    """The statement rows' producers (TOTAL last) and their printed cells, one matrix per column."""
    ints = priced.row_ints
    producers = [row.producer for row in fortnight.rows] + [fortnight.total.producer]
    cells = [tc.fixed_text(ints[:, j], 0) for j in (0, 1)]
    for j in range(2, 9):
        column = ints[:, j]
        text = tc.fixed_text(column, 2)
        cells.append(text * (column >= 0)[:, None] if j == 3 else text)  # no average: empty
    return producers, cells


def statements_csv_bytes(fortnight: Fortnight, priced: PricedColumns,
                         names: Mapping[str, str] | None = None) -> bytes:
    """statements.csv (`statements.statements_csv_text`, byte for byte) laid out from integers."""
    from hub.payments.statements import STATEMENT_COLUMNS, statements_csv_text

    if priced.row_ints is None:
        return statements_csv_text(fortnight, names).encode("utf-8")
    producers, cells = _row_cells(fortnight, priced)
    header = ",".join(STATEMENT_COLUMNS + (("name",) if names is not None else ())) + "\n"
    fields = [np.asarray(str(fortnight.period).encode()), _quoted_table(producers), *cells]
    if names is not None:
        fields.append(_quoted_table([names.get(p, "") for p in producers[:-1]] + [""]))
    return header.encode() + tc.join_rows(fields, len(producers))


def table_text(fortnight: Fortnight, priced: PricedColumns, lang: str = "es",
               names: Mapping[str, str] | None = None) -> str:
    """The console table (`statements.render_table`, character for character) laid out from integers."""
    from hub.payments.format import format_date, table_header, text
    from hub.payments.statements import render_table

    if priced.row_ints is None:
        return render_table(fortnight, lang, names)
    producers, cells = _row_cells(fortnight, priced)
    dash = np.zeros((len(producers), 1), dtype=np.uint8)
    dash[(cells[3] == 0).all(axis=1)] = ord("-")
    cells[3] = np.concatenate([cells[3], dash], axis=1)  # "-" for no average
    columns = [np.array([p.encode("utf-8") for p in producers], dtype="S"), *cells]
    left = (0,)
    if names is not None:
        columns.insert(1, np.array([names.get(p, "").encode("utf-8") for p in producers[:-1]] + [b""], dtype="S"))
        left = (0, 1)
    header = table_header(lang, names)
    matrices = [c if c.ndim == 2 else tc.as_matrix(c) for c in columns]
    lengths = [tc.char_lengths(m.view(f"S{m.shape[1]}").reshape(-1)) for m in matrices]
    widths = [max(int(n.max()), len(h)) for n, h in zip(lengths, header)]
    fields = []
    for i, (m, n, width) in enumerate(zip(matrices, lengths, widths)):
        pad = tc.spaces(width - n)
        fields.append([m, pad] if i in left else [pad, m])
    body = tc.join_rows(fields, len(producers), separator=b"  ").decode("utf-8").split("\n")[:-1]
    head = "  ".join(h.ljust(w) if i in left else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    table = [head.rstrip(), *(line.rstrip() for line in body)]
    rule = "-" * max(len(line) for line in table)
    period = fortnight.period
    title = text("table_title", lang, period=period, first=format_date(period.first_day(), lang),
                 last=format_date(period.last_day(), lang), currency=fortnight.pricing.currency)
    lines = [title, "", table[0], rule, *table[1:-1], rule, table[-1]]
    if fortnight.outside_period:
        lines += ["", text("outside_period", lang, count=fortnight.outside_period)]
    return "\n".join(lines) + "\n"


# -- sanity checks ------------------------------------------------------------------------------

def check_columns(fortnight: Fortnight, cols: DeliveryColumns, priced: PricedColumns, advances: Iterable = (),
                  known_producers: Collection[str] | None = None, lang: str = "es") -> list[Finding]:
    """`checks.check_fortnight` on columns: the same findings, in the same order.

    The limits are compared on the whole columns only to find the few deliveries worth a
    look; what each of them is warned about is decided and worded by `checks.delivery_findings`,
    the rule the per-delivery path uses."""
    pricing = fortnight.pricing
    limits = pricing.limits
    found = period_findings(fortnight)
    n = len(cols)
    suspect = np.zeros(n, dtype=bool)
    solids = DecimalColumn(priced.solids_h, 2, cols.solids.present, cols.solids.text)
    for column, low, high in ((solids, limits.min_solids_pct, limits.max_solids_pct),
                              (cols.liters, None, limits.max_liters_per_delivery),
                              (cols.temp, limits.min_milk_temp_c, limits.max_milk_temp_c)):
        for limit, below in ((low, True), (high, False)):
            if limit is not None and n:
                ints, bound = _compare_scale(column, limit)
                suspect |= column.present & ((ints < bound) if below else (ints > bound))
    checked_price = cols.accepted & (cols.liters.ints > 0)
    low, high = limits.min_price_per_liter, limits.max_price_per_liter
    if (low is not None or high is not None) and n:
        suspect |= checked_price & _price_out(cols, priced, low, high)

    events: list[tuple[int, int, list[Finding]]] = []
    if known_producers is not None:
        starts = np.searchsorted(cols.code, np.arange(len(cols.producers)))
        for code, producer in enumerate(cols.producers):
            if producer not in known_producers:
                count = int((starts[code + 1] if code + 1 < len(starts) else n) - starts[code])
                events.append((int(starts[code]), -1, [unregistered(producer, count)]))
    tz = pricing.timezone
    for i in np.flatnonzero(suspect).tolist():
        day = datetime.fromtimestamp(int(cols.ts_ns[i]) // 1_000_000_000, tz).date()
        where = {"id": cols.id[i].decode("utf-8"), "producer": cols.producers[cols.code[i]],
                 "date": format_date(day, lang)}
        events.append((i, 0, delivery_findings(
            pricing, where,
            Decimal(int(priced.solids_h[i])).scaleb(-2) if cols.solids.present[i] else None,
            Decimal(cols.liters.text[i].decode()),
            Decimal(cols.temp.text[i].decode()) if cols.temp.present[i] else None,
            _price_per_liter(cols, priced, i) if checked_price[i] else None)))
    events.sort(key=lambda event: event[:2])
    found += [finding for _, _, findings in events for finding in findings]
    found += advance_findings(fortnight.period, advances, known_producers, set(cols.producers), lang)
    return found


def _price_out(cols: DeliveryColumns, priced: PricedColumns, low: Decimal | None,
               high: Decimal | None) -> np.ndarray:
    """Where the effective price per litre is below ``low`` or above ``high``."""
    earns = cols.accepted & (priced.value != 0) & (cols.liters.ints != 0)
    if priced.per_liter is None:
        prices = [*priced.combo_shown, ZERO]
        out = np.array([(low is not None and p < low) or (high is not None and p > high) for p in prices])
        return np.where(earns, out[priced.combo], out[-1])
    column = DecimalColumn(priced.per_liter, PRICE_PLACES, earns, earns)
    bad = np.zeros(len(cols), dtype=bool)
    for limit, below in ((low, True), (high, False)):
        if limit is not None:
            ints, bound = _compare_scale(column, limit)
            bad |= (ints < bound) if below else (ints > bound)
    return bad


def _price_per_liter(cols: DeliveryColumns, priced: PricedColumns, i: int) -> Decimal:
    """Delivery ``i``'s effective price per litre (`explain.effective_price_per_liter`)."""
    if not (priced.value[i] != 0 and cols.liters.ints[i] != 0):
        return ZERO
    if priced.per_liter is None:
        return priced.combo_shown[priced.combo[i]]
    return Decimal(int(priced.per_liter[i])).scaleb(-PRICE_PLACES)


# -- writing ------------------------------------------------------------------------------------

def write_csv_outputs(out_dir: Path | str, fortnight: Fortnight, lines_csv: Iterable[bytes],
                      lang: str = "es", names: Mapping[str, str] | None = None, warnings: Sequence[str] = (),
                      extra_files: Mapping[str, str | bytes] | None = None,
                      priced: PricedColumns | None = None) -> None:
    """statements.csv, statements.txt, lines.csv (its bytes in pieces: `lines_csv_chunks`, written
    as they come) and warnings.txt, with ``extra_files`` (``statements-LOCALE.csv``), swapped into
    ``out_dir`` together as `statements.write_outputs` does; the outputs of an earlier run that
    this one does not write (printable statements, PDFs) are removed. With ``priced`` (the
    fortnight came from columns) statements.csv and the table are laid out from its integers."""
    from hub.payments.statements import (
        _swap_into_place,
        render_table,
        statements_csv_text,
    )

    out_dir = Path(out_dir)
    contents: dict[str, str | bytes] = {
        "statements.csv": (statements_csv_bytes(fortnight, priced, names) if priced is not None
                           else statements_csv_text(fortnight, names)),
        "statements.txt": (table_text(fortnight, priced, lang, names) if priced is not None
                           else render_table(fortnight, lang, names)),
        "warnings.txt": "".join(f"{warning}\n" for warning in warnings),
        **(extra_files or {}),
    }
    staging = staging_folder(out_dir)
    try:
        (staging / "new").mkdir()
        for name, content in contents.items():
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            (staging / "new" / name).write_bytes(data)
        with open(staging / "new" / "lines.csv", "wb") as out:
            out.writelines(lines_csv)
        _swap_into_place(staging, out_dir)
    except OSError as exc:
        raise PaymentsError(Text("cannot_write", path=out_dir, reason=exc.strerror or exc)) from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
