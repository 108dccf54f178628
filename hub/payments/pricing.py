"""The association's pricing file and the price of one delivery.

The file (TOML, see contracts.md) names a price *scheme* and its parameters.
Schemes are data: each is a small frozen class that knows its keys, its
rate, the quantity the rate multiplies (litres or kg of solids) and what
its rate depends on (``rate_key``, for the vectorised engine), registered
in `SCHEMES` by the name used in the file, so that a new scheme is one
class and one entry, not an ``if`` in either engine (see `PriceScheme`).
``solids_bonus`` (the default), ``per_kg_solids`` and ``fat_snf_chart``.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.payments.errors import PaymentsError, Text
from hub.payments.money import EXACT, ZERO, format_2dp, format_plain, parse_decimal, round_half_up

DEFAULT_TIMEZONE = "America/Lima"
DEFAULT_CURRENCY = "PEN"
DEFAULT_REFERENCE_SOLIDS_PCT = Decimal("11.5")
SOLIDS_PLACES = Decimal("0.01")  # TS is priced as printed on the receipt


REQUIRED: Any = object()  # default of a key that must be in the file


class _Table:
    """One TOML table being read: typed getters that say which file and key is wrong.

    Every key read is remembered so that `finish` can reject the ones left
    over: a misspelt ``bonus_per_tenths`` must not silently mean "no bonus".
    """

    def __init__(self, path: Path | str, name: str | None, data: dict[str, Any]):
        self._path = path
        self._name = name
        self._data = data
        self._read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        parts = [f"[{self._name}]"] if self._name else []
        if key is not None:
            parts.append(key)
        return f"{self._path}: {' '.join(parts)}" if parts else str(self._path)

    def error(self, key: str | None, reason: str | Text) -> PaymentsError:
        """``pricing.toml: [price] base_per_liter: <reason>``, worded in the reader's language."""
        return PaymentsError(Text("setting", where=self.where(key), reason=reason))

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self._data:
            return self._data[key]
        if default is REQUIRED:
            raise self.error(key, Text("missing_required"))
        return default

    def decimal_value(self, key: str, value: Any, minimum: Decimal | None = None,
                      maximum: Decimal | None = None) -> Decimal:
        """Check one already-read value (e.g. a list item) like `decimal` does."""
        if isinstance(value, Decimal) or value is None:
            return value
        if isinstance(value, bool):
            raise self.error(key, Text("not_decimal", value=repr(value)))
        if isinstance(value, float):
            raise self.error(key, Text("toml_float", name=key, value=value))
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, str):
            try:
                number = parse_decimal(value)
            except ValueError:
                raise self.error(key, Text("not_decimal", value=repr(value))) from None
        else:
            raise self.error(key, Text("not_decimal", value=repr(value)))
        if minimum is not None and number < minimum:
            raise self.error(key, Text("at_least", minimum=minimum, value=repr(value)))
        if maximum is not None and number > maximum:
            raise self.error(key, Text("at_most", maximum=maximum, value=repr(value)))
        return number

    def decimal_list(self, key: str, minimum: Decimal | None = None,
                     maximum: Decimal | None = None) -> tuple[Decimal, ...]:
        """A non-empty list of decimals (``["3.0", "3.5"]``)."""
        values = self._get(key, REQUIRED)
        if not isinstance(values, list) or not values:
            raise self.error(key, Text("not_decimal_list", value=repr(values)))
        return tuple(self.decimal_value(f"{key}[{i + 1}]", v, minimum, maximum) for i, v in enumerate(values))

    def decimal(
        self,
        key: str,
        default: Any = REQUIRED,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
    ) -> Decimal:
        """A decimal written as a string (``"1.03"``) or an integer (``8``)."""
        return self.decimal_value(key, self._get(key, default), minimum, maximum)

    def string(self, key: str, default: Any = REQUIRED) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, Text("not_string", value=repr(value)))
        return value

    def table(self, key: str, required: bool) -> _Table | None:
        name = key if self._name is None else f"{self._name}.{key}"
        self._read.add(key)
        value = self._data.get(key)
        if value is None:
            if required:
                raise PaymentsError(Text("setting", where=f"{self._path}: [{name}]", reason=Text("missing_table")))
            return None
        if not isinstance(value, dict):
            raise self.error(key, Text("not_table", name=name, value=repr(value)))
        return _Table(self._path, name, value)

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.error(unknown[0], Text("unknown_key", known=known))


class PriceScheme(Protocol):
    """What both engines need from a scheme: a rate, the quantity it is per, and a price key.

    ``unit`` is ``"L"`` (the rate is per litre) or ``"kg_solids"`` (per kg
    of total solids). ``rate`` gets the delivery's total solids and fat, both
    already rounded half-up to two decimals (as printed on the receipt), and
    returns the quality rate, never below zero. ``quantity`` is what the rate
    multiplies for one accepted delivery, in ``unit`` (litres, or kg of
    solids); it raises ValueError when the delivery lacks a measure it needs.
    ``needs`` names the delivery fields the scheme cannot price without.

    Each scheme also explains itself (`hub.payments.explain` prints it): ``parts``
    (how a rate was reached), ``detail`` (the arithmetic a producer can redo,
    and whether the floor at zero applied) and ``rule`` (the rule's phrases as
    message keys of the catalog with their values).

    The vectorised engine (`hub.payments.columnar`) prices each distinct
    ``rate_key(solids_pct, fat_pct)`` once and multiplies by ``quantity``:
    a scheme sets ``vectorised = True`` only when its rate depends on
    nothing but that key. Any other scheme is priced by the Decimal engine.
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    needs: ClassVar[tuple[str, ...]]
    vectorised: ClassVar[bool]

    def rate(self, solids_pct: Decimal, fat_pct: Decimal | None) -> Decimal: ...

    def rate_key(self, solids_pct: Decimal, fat_pct: Decimal | None) -> Hashable: ...

    def quantity(self, liters: Decimal, weight_kg: Decimal | None, solids_pct: Decimal) -> Decimal: ...

    def parts(self, solids_pct: Decimal, rate: Decimal) -> SchemeParts: ...

    def detail(self, parts: SchemeParts, quantity: Decimal) -> tuple[str, bool]: ...

    def rule(self) -> list[tuple[str, dict[str, Any]]]: ...


@dataclass(frozen=True, slots=True)
class SchemeParts:
    """How a scheme reached one delivery's rate (see `explain.PriceParts`): ``base_per_liter``,
    ``solids_tenths`` and ``solids_per_liter`` only for a scheme with a base and a TS step
    (None otherwise); ``rate_per_unit`` the scheme's rate per its unit, before any chilled bonus."""

    base_per_liter: Decimal | None
    solids_tenths: int | None
    solids_per_liter: Decimal | None
    rate_per_unit: Decimal


def plain_pct(value: Decimal) -> str:
    """A percentage or temperature setting as written in a rule: exact, no trailing zeros (11.5, 8)."""
    return f"{value.normalize():f}"


@dataclass(frozen=True, slots=True)
class SolidsBonus:
    """Base price per litre with a bonus or penalty per tenth of a point of TS.

    Above ``reference_solids_pct`` each *complete* tenth earns
    ``bonus_per_tenth``; below it each *started* tenth costs
    ``penalty_per_tenth``. Amounts in currency per litre, TS in %.
    """

    name: ClassVar[str] = "solids_bonus"
    unit: ClassVar[str] = "L"
    needs: ClassVar[tuple[str, ...]] = ("solids_pct",)
    vectorised: ClassVar[bool] = True

    base_per_liter: Decimal
    bonus_per_tenth: Decimal
    penalty_per_tenth: Decimal
    reference_solids_pct: Decimal = DEFAULT_REFERENCE_SOLIDS_PCT

    @classmethod
    def from_table(cls, table: _Table) -> SolidsBonus:
        return cls(
            base_per_liter=table.decimal("base_per_liter", minimum=ZERO),
            bonus_per_tenth=table.decimal("bonus_per_tenth", minimum=ZERO),
            penalty_per_tenth=table.decimal("penalty_per_tenth", minimum=ZERO),
            reference_solids_pct=table.decimal(
                "reference_solids_pct", DEFAULT_REFERENCE_SOLIDS_PCT, ZERO, Decimal(100)
            ),
        )

    def solids_tenths(self, solids_pct: Decimal) -> int:
        """The tenths of TS the price counts, signed: complete tenths above the reference
        (positive), started tenths below it (negative). The one place the step is computed:
        the price and its explanation both use it."""
        with localcontext(EXACT):
            difference = solids_pct - self.reference_solids_pct
            if difference >= 0:
                return int((difference * 10).to_integral_value(rounding=ROUND_FLOOR))
            return -int((-difference * 10).to_integral_value(rounding=ROUND_CEILING))

    def solids_step(self, tenths: int) -> Decimal:
        """What ``tenths`` (signed, as `solids_tenths`) add to the base per litre: bonus or penalty."""
        with localcontext(EXACT):
            return self.bonus_per_tenth * tenths if tenths >= 0 else self.penalty_per_tenth * tenths

    def price_per_liter(self, solids_pct: Decimal) -> Decimal:
        """Quality price per litre for TS ``solids_pct`` (2 decimals), never below zero."""
        return self.parts(solids_pct, ZERO).rate_per_unit

    def rate(self, solids_pct: Decimal, fat_pct: Decimal | None = None) -> Decimal:
        return self.price_per_liter(solids_pct)

    def parts(self, solids_pct: Decimal, rate: Decimal) -> SchemeParts:
        """The base, the signed tenths and the quality price above the base (bonus positive,
        penalty negative, the floor at zero included) of TS ``solids_pct``: the price is
        recomputed by the same steps (``rate``, the line's, is that price)."""
        tenths = self.solids_tenths(solids_pct)
        with localcontext(EXACT):
            price = max(self.base_per_liter + self.solids_step(tenths), ZERO)
            return SchemeParts(self.base_per_liter, tenths, price - self.base_per_liter, price)

    def detail(self, parts: SchemeParts, quantity: Decimal) -> tuple[str, bool]:
        """``1.03 + 2×0.01`` (base, tenths × bonus or penalty), and whether the floor at zero applied."""
        detail = format_plain(self.base_per_liter)
        tenths = parts.solids_tenths or 0
        if tenths > 0:
            detail += f" + {tenths}×{format_plain(self.bonus_per_tenth)}"
        elif tenths < 0:
            detail += f" - {-tenths}×{format_plain(self.penalty_per_tenth)}"
        return detail, parts.rate_per_unit == 0 and self.base_per_liter > 0

    def rule(self) -> list[tuple[str, dict[str, Any]]]:
        """The rule's phrases (message keys of the catalog, with their values)."""
        phrases: list[tuple[str, dict[str, Any]]] = [("rule_base", {"base": format_plain(self.base_per_liter)})]
        ref = plain_pct(self.reference_solids_pct)
        if self.bonus_per_tenth:
            phrases.append(("rule_bonus", {"bonus": format_plain(self.bonus_per_tenth), "ref": ref}))
        if self.penalty_per_tenth:
            phrases.append(("rule_penalty", {"penalty": format_plain(self.penalty_per_tenth), "ref": ref}))
        return phrases

    def rate_key(self, solids_pct: Decimal, fat_pct: Decimal | None = None) -> Hashable:
        return solids_pct

    def quantity(self, liters: Decimal, weight_kg: Decimal | None, solids_pct: Decimal) -> Decimal:
        return liters


@dataclass(frozen=True, slots=True)
class PerKgSolids:
    """A price per kg of total solids: value = kg × TS/100 × ``price_per_kg_solids``.

    kg is the delivery's ``weight_kg``; when a delivery was not weighed
    (volumetric cans) and ``kg_per_liter`` is set, kg = litres × kg_per_liter.
    """

    name: ClassVar[str] = "per_kg_solids"
    unit: ClassVar[str] = "kg_solids"
    needs: ClassVar[tuple[str, ...]] = ("solids_pct",)
    vectorised: ClassVar[bool] = True

    price_per_kg_solids: Decimal
    kg_per_liter: Decimal | None = None

    @classmethod
    def from_table(cls, table: _Table) -> PerKgSolids:
        return cls(
            price_per_kg_solids=table.decimal("price_per_kg_solids", minimum=ZERO),
            kg_per_liter=table.decimal("kg_per_liter", None, Decimal("0.9"), Decimal("1.1")),
        )

    def rate(self, solids_pct: Decimal, fat_pct: Decimal | None = None) -> Decimal:
        return self.price_per_kg_solids

    def rate_key(self, solids_pct: Decimal, fat_pct: Decimal | None = None) -> Hashable:
        return ()  # one rate for all milk: the quality is in the quantity

    def kg(self, liters: Decimal, weight_kg: Decimal | None) -> Decimal | None:
        """The kg priced: as weighed, else litres × ``kg_per_liter`` (None if neither)."""
        if weight_kg is not None:
            return weight_kg
        return None if self.kg_per_liter is None else liters * self.kg_per_liter

    def quantity(self, liters: Decimal, weight_kg: Decimal | None, solids_pct: Decimal) -> Decimal:
        """kg of total solids: kg × TS/100."""
        kg = self.kg(liters, weight_kg)
        if kg is None:
            raise ValueError(Text("needs_weight", scheme=self.name))
        return kg * solids_pct.scaleb(-2)

    def parts(self, solids_pct: Decimal, rate: Decimal) -> SchemeParts:
        return SchemeParts(None, None, None, rate)

    def detail(self, parts: SchemeParts, quantity: Decimal) -> tuple[str, bool]:
        """``2.35 kg ST × 9.125``: kg of solids (to 10 g) × the rate."""
        return f"{format_2dp(quantity)} kg ST × {format_plain(parts.rate_per_unit)}", False

    def rule(self) -> list[tuple[str, dict[str, Any]]]:
        phrases: list[tuple[str, dict[str, Any]]] = [
            ("rule_per_kg_solids", {"price": format_plain(self.price_per_kg_solids)})]
        if self.kg_per_liter is not None:
            phrases.append(("rule_kg_per_liter", {"kg": format_plain(self.kg_per_liter)}))
        return phrases


@dataclass(frozen=True, slots=True)
class FatSnfChart:
    """A chart of rates per litre by fat band × SNF band (as Indian collection units use).

    ``fat_bands`` and ``snf_bands`` are the ascending lower bounds (%) of
    each band; ``rates[i][j]`` is the rate per litre for fat in band i and
    SNF in band j (a band runs from its bound up to the next one, excluded;
    the last band is open). SNF = TS − fat, both rounded to two decimals.
    Milk below the lowest fat or SNF bound gets ``below_chart_per_liter``.
    """

    name: ClassVar[str] = "fat_snf_chart"
    unit: ClassVar[str] = "L"
    needs: ClassVar[tuple[str, ...]] = ("solids_pct", "fat_pct")
    vectorised: ClassVar[bool] = True

    fat_bands: tuple[Decimal, ...]
    snf_bands: tuple[Decimal, ...]
    rates: tuple[tuple[Decimal, ...], ...]
    below_chart_per_liter: Decimal = ZERO

    @classmethod
    def from_table(cls, table: _Table) -> FatSnfChart:
        fat_bands = table.decimal_list("fat_bands", ZERO, Decimal(100))
        snf_bands = table.decimal_list("snf_bands", ZERO, Decimal(100))
        for key, bands in (("fat_bands", fat_bands), ("snf_bands", snf_bands)):
            if any(b <= a for a, b in zip(bands, bands[1:])):
                raise table.error(key, Text("not_ascending"))
        rows = table._get("rates", REQUIRED)
        if not isinstance(rows, list) or len(rows) != len(fat_bands):
            raise table.error("rates", f"expected {len(fat_bands)} rows (one per fat band), each with "
                              f"{len(snf_bands)} rates (one per SNF band)")
        rates = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(snf_bands):
                raise table.error("rates", f"row {i + 1}: expected {len(snf_bands)} rates (one per SNF band)")
            rates.append(tuple(table.decimal_value(f"rates[{i + 1}][{j + 1}]", v, ZERO) for j, v in enumerate(row)))
        return cls(
            fat_bands=fat_bands,
            snf_bands=snf_bands,
            rates=tuple(rates),
            below_chart_per_liter=table.decimal("below_chart_per_liter", ZERO, minimum=ZERO),
        )

    def rate(self, solids_pct: Decimal, fat_pct: Decimal | None) -> Decimal:
        if fat_pct is None:
            raise ValueError(Text("needs_fat", scheme="fat_snf_chart"))
        snf = solids_pct - fat_pct
        i = bisect_right(self.fat_bands, fat_pct) - 1
        j = bisect_right(self.snf_bands, snf) - 1
        if i < 0 or j < 0:
            return self.below_chart_per_liter
        return self.rates[i][j]

    def rate_key(self, solids_pct: Decimal, fat_pct: Decimal | None) -> Hashable:
        return (solids_pct, fat_pct)

    def quantity(self, liters: Decimal, weight_kg: Decimal | None, solids_pct: Decimal) -> Decimal:
        return liters

    def parts(self, solids_pct: Decimal, rate: Decimal) -> SchemeParts:
        return SchemeParts(None, None, None, rate)

    def detail(self, parts: SchemeParts, quantity: Decimal) -> tuple[str, bool]:
        return format_plain(parts.rate_per_unit), False

    def rule(self) -> list[tuple[str, dict[str, Any]]]:
        return [("rule_fat_snf_chart", {"rows": len(self.fat_bands), "columns": len(self.snf_bands)})]


# Scheme name in the pricing file -> class reading its keys from [price].
SCHEMES: dict[str, type] = {cls.name: cls for cls in (SolidsBonus, PerKgSolids, FatSnfChart)}


@dataclass(frozen=True, slots=True)
class Limits:
    """What the sanity checks (`hub.payments.checks`) call plausible: the optional
    ``[limits]`` table of the pricing file. None means "not checked".

    TS in %, litres per delivery in L, milk temperature at intake in °C, the
    effective price per litre of an accepted delivery in the pricing currency.
    """

    min_solids_pct: Decimal | None = Decimal(8)
    max_solids_pct: Decimal | None = Decimal(16)
    max_liters_per_delivery: Decimal | None = None
    min_milk_temp_c: Decimal | None = Decimal(0)
    max_milk_temp_c: Decimal | None = Decimal(45)
    min_price_per_liter: Decimal | None = None
    max_price_per_liter: Decimal | None = None

    @classmethod
    def from_table(cls, table: _Table | None) -> Limits:
        if table is None:
            return cls()
        defaults = cls()
        values = {
            name: table.decimal(name, getattr(defaults, name), minimum=None if "temp" in name else ZERO)
            for name in cls.__dataclass_fields__
        }
        table.finish()
        for low, high in (("min_solids_pct", "max_solids_pct"), ("min_milk_temp_c", "max_milk_temp_c"),
                          ("min_price_per_liter", "max_price_per_liter")):
            if values[low] is not None and values[high] is not None and values[low] > values[high]:
                raise table.error(high, Text("at_least", minimum=f"{low} ({values[low]})", value=repr(str(values[high]))))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Pricing:
    """An association's payment settings (one pricing file).

    Money in ``currency`` per litre, temperatures in °C.
    ``chilled_max_temp_c`` is None when no chilled bonus is paid.
    """

    scheme: PriceScheme
    timezone: ZoneInfo = ZoneInfo(DEFAULT_TIMEZONE)
    currency: str = DEFAULT_CURRENCY
    chilled_bonus_per_liter: Decimal = ZERO
    chilled_max_temp_c: Decimal | None = None
    contribution_per_liter: Decimal = ZERO
    association: str = ""
    max_shrinkage_pct: Decimal = Decimal(1)
    limits: Limits = Limits()

    @property
    def zone(self) -> ZoneInfo:
        """Alias of `timezone` (the name hub/cli.py uses)."""
        return self.timezone


@dataclass(frozen=True, slots=True)
class DeliveryPrice:
    """How one delivery was priced.

    ``solids_pct``: TS as rounded for pricing (None when not measured);
    ``price_per_liter``: the rate per ``unit`` including any chilled bonus
    for litre schemes (0 for a rejected delivery); for ``per_kg_solids`` the
    rate per kg of solids (the chilled bonus is then per litre on top);
    ``quantity``: litres, or kg of solids; ``value``: exact.
    """

    solids_pct: Decimal | None
    price_per_liter: Decimal
    value: Decimal
    chilled: bool
    unit: str = "L"
    quantity: Decimal = ZERO


def is_chilled(pricing: Pricing, milk_temp_c: Decimal | None) -> bool:
    """Whether a delivery earns the chilled-milk bonus (unknown temperature: no)."""
    return (
        pricing.chilled_bonus_per_liter > 0
        and pricing.chilled_max_temp_c is not None
        and milk_temp_c is not None
        and milk_temp_c <= pricing.chilled_max_temp_c
    )


def round_pct(pct: Decimal) -> Decimal:
    """A percentage (TS, fat) as priced: half-up to two decimals, as printed on the receipt."""
    return round_half_up(pct, SOLIDS_PLACES)


def priced_measures(
    pricing: Pricing,
    solids_pct: Decimal | None,
    fat_pct: Decimal | None,
    rounded: Callable[[Decimal], Decimal] = round_pct,
) -> tuple[Decimal, Decimal | None]:
    """TS and fat of an accepted delivery as priced: rounded half-up to two decimals.

    Raises ValueError when the delivery lacks TS, or fat that the scheme
    needs. ``rounded`` is `round_pct` or a cached equivalent (the vectorised
    engine rounds the same few values again and again).
    """
    if solids_pct is None:
        raise ValueError(Text("needs_solids"))
    fat = None if fat_pct is None else rounded(fat_pct)
    if fat is None and "fat_pct" in pricing.scheme.needs:
        raise ValueError(Text("needs_fat", scheme=pricing.scheme.name))
    return rounded(solids_pct), fat


def chilled_bonus(pricing: Pricing, chilled: bool) -> Decimal:
    """The chilled bonus per litre a delivery earns (0 when not chilled)."""
    return pricing.chilled_bonus_per_liter if chilled else ZERO


def shown_rate(pricing: Pricing, rate: Decimal, chilled: bool) -> Decimal:
    """The rate printed beside a delivery: with a per-litre scheme the chilled bonus
    (also per litre) is part of it; with any other unit it is paid on top."""
    return rate + chilled_bonus(pricing, chilled) if pricing.scheme.unit == "L" else rate


def price_delivery(
    pricing: Pricing,
    liters: Decimal,
    solids_pct: Decimal | None,
    accepted: bool,
    milk_temp_c: Decimal | None = None,
    weight_kg: Decimal | None = None,
    fat_pct: Decimal | None = None,
) -> DeliveryPrice:
    """Price one delivery of ``liters`` L with total solids ``solids_pct`` %.

    This is the whole per-delivery rule of payments.md in one place; the
    vectorised engine must give the same ``value`` for every delivery:
    value = quantity × rate + litres × chilled bonus. Rejected deliveries
    are worth 0. The chilled bonus is added after the quality price is
    floored at zero: it pays for the cold chain, which was kept even when
    the milk was poor. Raises ValueError when the scheme lacks a measure it
    needs (the engine names the delivery).
    """
    scheme = pricing.scheme
    if not accepted:
        rounded = None if solids_pct is None else round_pct(solids_pct)
        return DeliveryPrice(rounded, ZERO, ZERO, False, scheme.unit, ZERO)
    rounded, fat = priced_measures(pricing, solids_pct, fat_pct)
    with localcontext(EXACT):
        rate = scheme.rate(rounded, fat)
        chilled = is_chilled(pricing, milk_temp_c)
        quantity = scheme.quantity(liters, weight_kg, rounded)
        value = quantity * rate + liters * chilled_bonus(pricing, chilled)
        return DeliveryPrice(rounded, shown_rate(pricing, rate, chilled), value, chilled, scheme.unit, quantity)


def load_pricing(path: Path | str) -> Pricing:
    """Read and check a pricing TOML file; PaymentsError naming the file and key."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise PaymentsError(Text("cannot_read_pricing", path=path, reason=exc.strerror)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PaymentsError(Text("not_toml", path=path, reason=str(exc))) from None
    return pricing_from_dict(data, path)


def pricing_from_dict(data: dict[str, Any], path: Path | str = "pricing") -> Pricing:
    """Build `Pricing` from parsed TOML ``data``; ``path`` only labels errors."""
    top = _Table(path, None, data)
    timezone_name = top.string("timezone", DEFAULT_TIMEZONE)
    try:
        timezone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise top.error("timezone", Text("unknown_timezone", value=repr(timezone_name))) from None
    currency = top.string("currency", DEFAULT_CURRENCY)
    if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise top.error("currency", Text("bad_currency", value=repr(currency)))
    association = top.string("association", "")

    price = top.table("price", required=True)
    assert price is not None
    scheme_name = price.string("scheme", SolidsBonus.name)
    scheme_class = SCHEMES.get(scheme_name)
    if scheme_class is None:
        raise price.error("scheme", Text("unknown_scheme", value=repr(scheme_name), known=", ".join(sorted(SCHEMES))))
    scheme = scheme_class.from_table(price)
    chilled_bonus = price.decimal("chilled_bonus_per_liter", ZERO, minimum=ZERO)
    chilled_max = price.decimal("chilled_max_temp_c", None, Decimal(-5), Decimal(40))
    if chilled_bonus > 0 and chilled_max is None:
        raise price.error("chilled_max_temp_c", Text("chilled_needs_max"))
    price.finish()

    fees = top.table("fees", required=False)
    contribution = ZERO
    if fees is not None:
        contribution = fees.decimal("contribution_per_liter", ZERO, minimum=ZERO)
        fees.finish()
    reconcile = top.table("reconcile", required=False)
    max_shrinkage = Decimal(1)
    if reconcile is not None:
        max_shrinkage = reconcile.decimal("max_shrinkage_pct", Decimal(1), ZERO, Decimal(100))
        reconcile.finish()
    limits = Limits.from_table(top.table("limits", required=False))
    top.finish()

    return Pricing(
        scheme=scheme,
        timezone=timezone,
        currency=currency,
        chilled_bonus_per_liter=chilled_bonus,
        chilled_max_temp_c=chilled_max,
        contribution_per_liter=contribution,
        association=association,
        max_shrinkage_pct=max_shrinkage,
        limits=limits,
    )
