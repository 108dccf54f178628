"""Sanity checks: implausible values an officer should look at before paying.

None of these stops the engine (the rules can price any value); they are
warnings, worded for people (Spanish by default), printed on standard error
and written to ``DIR/warnings.txt``; ``milk-hub payments --strict`` refuses to
write anything when there is one. The limits are the pricing file's
optional ``[limits]`` table (`pricing.Limits`).

Pure: a computed fortnight (and the inputs) in, warnings out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from hub.payments.engine import Fortnight, due_period, installments_of
from hub.payments.explain import effective_price_per_liter, kind_words
from hub.payments.format import format_date, text
from hub.payments.pricing import Pricing
from hub.payments.records import Advance


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: a text key of the ``payments`` catalog and the values it names."""

    key: str
    values: dict = field(default_factory=dict)

    def words(self, lang: str) -> str:
        return text(self.key, lang, **self.values)


def _n(value: Decimal | None) -> str:
    """A value as the warning prints it: exact, without trailing zeros ("-" for no limit)."""
    if value is None:
        return "-"
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def check_fortnight(
    fortnight: Fortnight,
    advances: Iterable[Advance] = (),
    known_producers: Collection[str] | None = None,
    lang: str = "es",
) -> list[Finding]:
    """Every implausible value of the period, in delivery order per producer.

    ``known_producers``: the registry's codes when one was given; without it a
    producer is known when the period has a delivery of theirs. The same
    findings from columns: `columnar.check_columns` (both built by the
    functions below).
    """
    pricing = fortnight.pricing
    found = period_findings(fortnight)
    for row in fortnight.rows:
        if known_producers is not None and row.lines and row.producer not in known_producers:
            found.append(unregistered(row.producer, len(row.lines)))
        for line in row.lines:
            where = {"id": line.id, "producer": row.producer, "date": format_date(line.ts.date(), lang)}
            price = effective_price_per_liter(line) if line.accepted and line.liters > 0 else None
            found += delivery_findings(pricing, where, line.solids_pct, line.liters, line.milk_temp_c, price)
    delivered = {row.producer for row in fortnight.rows if row.lines}
    return found + advance_findings(fortnight.period, advances, known_producers, delivered, lang)


def period_findings(fortnight: Fortnight) -> list[Finding]:
    """What is wrong with the period as a whole: no deliveries at all."""
    if fortnight.total.deliveries == 0:
        return [Finding("warn_no_deliveries", {"period": str(fortnight.period)})]
    return []


def unregistered(producer: str, count: int) -> Finding:
    """A producer with ``count`` deliveries who is not in the registry."""
    return Finding("warn_unregistered_producer", {"producer": producer, "count": count})


def delivery_findings(pricing: Pricing, where: dict, solids_pct: Decimal | None, liters: Decimal,
                      milk_temp_c: Decimal | None, price: Decimal | None) -> list[Finding]:
    """One delivery's implausible values (the pricing file's ``[limits]``), in this order: TS as
    priced, litres, temperature, effective price per litre (``price``; None when not checked:
    a rejected delivery or no litres). ``where`` names the delivery (id, producer, date)."""
    limits = pricing.limits
    found: list[Finding] = []
    ts = solids_pct
    if ts is not None and ((limits.min_solids_pct is not None and ts < limits.min_solids_pct)
                           or (limits.max_solids_pct is not None and ts > limits.max_solids_pct)):
        found.append(Finding("warn_solids", {**where, "value": _n(ts), "low": _n(limits.min_solids_pct),
                                              "high": _n(limits.max_solids_pct)}))
    if limits.max_liters_per_delivery is not None and liters > limits.max_liters_per_delivery:
        found.append(Finding("warn_liters", {**where, "value": _n(liters),
                                              "high": _n(limits.max_liters_per_delivery)}))
    temp = milk_temp_c
    if temp is not None and ((limits.min_milk_temp_c is not None and temp < limits.min_milk_temp_c)
                             or (limits.max_milk_temp_c is not None and temp > limits.max_milk_temp_c)):
        found.append(Finding("warn_temperature", {**where, "value": _n(temp),
                                                   "low": _n(limits.min_milk_temp_c),
                                                   "high": _n(limits.max_milk_temp_c)}))
    if price is not None:
        low, high = limits.min_price_per_liter, limits.max_price_per_liter
        if (low is not None and price < low) or (high is not None and price > high):
            found.append(Finding("warn_price", {
                **where, "value": _n(price), "currency": pricing.currency,
                "low": "-" if low is None else f"{low:f}", "high": "-" if high is None else f"{high:f}"}))
    return found


def advance_findings(period, advances: Iterable[Advance], known_producers: Collection[str] | None,
                     delivered: Collection[str], lang: str) -> list[Finding]:
    """Advances for producers nobody knows: with a registry, any code it lacks; without one,
    an advance falling due in ``period`` for a producer with no delivery in it (``delivered``)."""
    found: list[Finding] = []
    known = set(known_producers) if known_producers is not None else set(delivered)
    for advance in advances:
        if advance.producer in known:
            continue
        falls_due = any(due_period(charge) == period for charge in installments_of(advance))
        if falls_due or known_producers is not None:
            found.append(Finding("warn_unknown_advance", {
                "producer": advance.producer, "amount": f"{advance.amount:f}", "kind": kind_words(advance.kind, lang),
                "first_period": str(advance.first_period),
                "why": text("warn_not_in_registry" if known_producers is not None else "warn_no_deliveries_here",
                            lang)}))
    return found
