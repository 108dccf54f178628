"""The price explained: each delivery's price in its parts, the rule in one sentence,
and what a producer's statement lists, so that the text and PDF statements say the same.

Pure functions over a computed `Fortnight` (no files). Exact values stay in
the data (``lines.csv``'s ``value_exact``); what a person reads is rounded
half-up to the cent, and where the cents of the lines do not add up to the
gross (which is rounded once, from the exact sum) a rounding line says by
how much, so that every printed column foots.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from hub.payments.engine import DeliveryLine, Fortnight, ProducerRow
from hub.payments.format import _text_or, format_date, line_notes, text
from hub.payments.money import (
    EXACT,
    ZERO,
    format_2dp,
    format_plain,
    mean_half_up,
    round_half_up,
)
from hub.payments.pricing import Pricing, SchemeParts, chilled_bonus, plain_pct

# lines.csv: the contract's columns first, then the price's parts (new columns go at the end).
LINE_COLUMNS = (
    "period", "producer", "name", "id", "receipt_code", "ts", "liters", "solids_pct", "accepted",
    "price_per_liter", "value", "value_exact",
    "base_per_liter", "solids_tenths", "solids_per_liter", "chilled_per_liter",
    "unit", "quantity", "rate_per_unit", "milk_temp_c", "reject_reason", "adjustment",
)

PRICE_PLACES = 4  # an effective price per litre that is not exact (per kg schemes) is rounded to this


@dataclass(frozen=True, slots=True)
class PriceParts:
    """How one accepted delivery's price was reached, per litre unless said otherwise.

    ``base_per_liter`` and ``solids_tenths`` (complete tenths of TS above the
    reference, positive; started tenths below it, negative) only for
    ``solids_bonus``; ``solids_per_liter`` is the quality price minus the base
    (bonus positive, penalty negative; the price is floored at zero);
    ``chilled_per_liter`` the chilled bonus earned; ``rate_per_unit`` the
    scheme's rate per ``unit`` (``L`` or ``kg_solids``) before that bonus.
    """

    base_per_liter: Decimal | None
    solids_tenths: int | None
    solids_per_liter: Decimal | None
    chilled_per_liter: Decimal
    rate_per_unit: Decimal


def price_parts(pricing: Pricing, line: DeliveryLine) -> PriceParts | None:
    """The parts of an accepted line's price (None for a rejected one), as the scheme that
    priced it says (`pricing.PriceScheme.parts`)."""
    if not line.accepted or line.solids_pct is None:
        return None
    scheme = pricing.scheme
    bonus = chilled_bonus(pricing, line.chilled)
    with localcontext(EXACT):
        # The line's rate is the scheme's, with the chilled bonus in it when both are per litre.
        rate = line.price_per_liter - bonus if scheme.unit == "L" else line.price_per_liter
        parts = scheme.parts(line.solids_pct, rate)
    return PriceParts(parts.base_per_liter, parts.solids_tenths, parts.solids_per_liter, bonus, parts.rate_per_unit)


def price_detail(pricing: Pricing, line: DeliveryLine, lang: str = "es") -> str:
    """The arithmetic of a line's price as a producer can redo it: ``1.03 + 1×0.01 + 0.05``
    (for solids_bonus: base, tenths × bonus or penalty, chilled bonus); empty for a rejected delivery."""
    parts = price_parts(pricing, line)
    if parts is None:
        return ""
    scheme = pricing.scheme
    detail, floored = scheme.detail(
        SchemeParts(parts.base_per_liter, parts.solids_tenths, parts.solids_per_liter, parts.rate_per_unit),
        line.quantity)
    if floored:
        detail += " " + text("price_floor", lang)  # the price never goes below zero
    if parts.chilled_per_liter:
        detail += f" + {format_plain(parts.chilled_per_liter)}"
    return detail


def effective_price_per_liter(line: DeliveryLine) -> Decimal:
    """What one litre of this delivery earned: exact for per-litre schemes (the line's
    price), else value / litres rounded half-up to `PRICE_PLACES` decimals; 0 when rejected."""
    if not line.accepted or line.value == 0 or line.liters == 0:
        return ZERO
    if line.unit == "L":
        return line.price_per_liter
    return mean_half_up(line.value, line.liters, PRICE_PLACES)


def _plain(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"


def rule_sentence(pricing: Pricing, lang: str) -> str:
    """The pricing rule in one short sentence, from the scheme's own settings, e.g.
    ``Precio base 1.03; +0.01 por cada décima de ST sobre 11.5 %; -0.015 por cada
    décima bajo 11.5 %; +0.05 por litro si llegó fría (≤ 8 °C)``."""
    parts = [text(key, lang, **values) for key, values in pricing.scheme.rule()]
    if pricing.chilled_bonus_per_liter and pricing.chilled_max_temp_c is not None:
        parts.append(text("rule_chilled", lang, bonus=format_plain(pricing.chilled_bonus_per_liter),
                          max=plain_pct(pricing.chilled_max_temp_c)))
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One delivery as a person reads it: cells as printed, value to the cent."""

    date: str
    time: str
    liters: str
    solids: str
    price: str
    value: str
    code: str
    notes: str
    cents: Decimal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StatementView:
    """Everything a producer's statement prints, computed once for the text and the PDF.

    The amounts foot: ``deliveries_sum + Σ adjustments + owed + rounding == gross``
    (``deliveries_sum`` = Σ of the lines' cents; ``owed``: a correction larger than
    the period's milk, moved to what is due), ``Σ due_items == due``, and
    ``gross − fees − deductions == net``.
    """

    name: str | None
    lines: tuple[StatementLine, ...]
    adjustments: tuple[tuple[str, Decimal], ...]
    deliveries_sum: Decimal
    rounding: Decimal
    owed: Decimal
    due_items: tuple[tuple[str, Decimal], ...]
    rule: str


def statement_view(fortnight: Fortnight, row: ProducerRow, lang: str,
                   names: Mapping[str, str] | None = None) -> StatementView:
    """The producer's statement as printed (see `StatementView`)."""
    pricing = fortnight.pricing
    lines = []
    for line in row.lines:
        cents = round_half_up(line.value)
        lines.append(StatementLine(
            date=format_date(line.ts.date(), lang),
            time=line.ts.strftime("%H:%M"),
            liters=format_plain(line.liters),
            solids="-" if line.solids_pct is None else format_2dp(line.solids_pct),
            price=format_plain(line.price_per_liter) if line.accepted else "-",
            value=format_2dp(cents),
            code=line.receipt_code or "",
            notes="; ".join(line_notes(line, lang)),
            cents=cents,
            detail=price_detail(pricing, line, lang),
        ))
    adjustments = tuple(
        (text("pdf_adjustment", lang, id=a.delivery_id, date=format_date(a.ts.date(), lang),
              reason=text(f"adjustment_{a.reason}", lang), period=a.period), round_half_up(a.value))
        for a in row.adjustments
    )
    with localcontext(EXACT):
        deliveries_sum = sum((line.cents for line in lines), ZERO)
        shown = deliveries_sum + sum((amount for _, amount in adjustments), ZERO)
        exact = sum((line.value for line in row.lines), ZERO) + sum((a.value for a in row.adjustments), ZERO)
        owed = round_half_up(-exact) if exact < 0 else ZERO
        # The gross is rounded once from the exact sum; the lines' cents may differ from it by a
        # few. A negative sum (a correction larger than the period's milk) makes the gross 0 and
        # moves what is owed to the deductions: gross = shown + owed + rounding either way.
        rounding = row.gross - shown - owed
        items: list[tuple[str, Decimal]] = []
        if row.carried_in:
            items.append((text("carried_in", lang), row.carried_in))
        if owed:
            items.append((text("owed_from_corrections", lang), owed))
        for charge in row.charges:
            kind = kind_words(charge.kind, lang)
            items.append((text("installment", lang, kind=kind, number=charge.installment, count=charge.installments,
                               first_period=charge.first_period), charge.amount))
    name = (names or {}).get(row.producer)
    return StatementView(name, tuple(lines), adjustments, deliveries_sum, rounding, owed, tuple(items),
                         rule_sentence(pricing, lang))


def kind_words(kind: str, lang: str) -> str:
    """An advance's kind in the producer's words (``feed`` -> ``alimento``; an unknown kind as written)."""
    return _text_or(f"kind_{kind.lower()}", kind, lang)


def producer_heading(row: ProducerRow, lang: str, names: Mapping[str, str] | None) -> str:
    """``Productor: p001`` or, with the registry, ``Productor: p001 - Juana Quispe``."""
    name = (names or {}).get(row.producer)
    if name and name != row.producer:
        return text("producer_label_named", lang, producer=row.producer, name=name)
    return text("producer_label", lang, producer=row.producer)


def lines_csv_text(fortnight: Fortnight, names: Mapping[str, str] | None = None) -> str:
    """``lines.csv``: one row per delivery of the period (rejected ones at value 0), then one
    per adjustment of a closed period (``adjustment`` = ``late`` or ``corrected``, litres and
    value being the differences), by producer and time.

    Per producer, Σ ``value_exact`` is the exact gross: rounded half-up to the cent once, it is
    statements.csv's ``gross`` (unless negative: a correction larger than the period's milk).
    """
    pricing = fortnight.pricing
    period = str(fortnight.period)
    tz = pricing.timezone
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LINE_COLUMNS)
    # The parts' cells depend only on what the line was priced on: a basin has few distinct ones.
    parts_cells: dict[tuple, list] = {}
    for row in fortnight.rows:
        name = (names or {}).get(row.producer, "")
        for line in row.lines:
            key = (line.accepted, line.solids_pct, line.chilled, line.price_per_liter, line.unit)
            cells = parts_cells.get(key)
            if cells is None:
                parts = price_parts(pricing, line)
                cells = parts_cells[key] = [
                    _plain(parts.base_per_liter) if parts else "",
                    "" if parts is None or parts.solids_tenths is None else parts.solids_tenths,
                    _plain(parts.solids_per_liter) if parts else "",
                    _plain(parts.chilled_per_liter) if parts else "",
                    line.unit,
                ]
                rate = _plain(parts.rate_per_unit) if parts else ""
                cells.append(rate)
            writer.writerow([
                period, row.producer, name, line.id, line.receipt_code or "", line.ts.astimezone(tz).isoformat(),
                _plain(line.liters), _plain(line.solids_pct), "true" if line.accepted else "false",
                _plain(effective_price_per_liter(line)), format_2dp(line.value), _plain(line.value),
                *cells[:5], _plain(line.quantity), cells[5],
                _plain(line.milk_temp_c), line.reject_reason or "", "",
            ])
        for a in row.adjustments:
            writer.writerow([
                period, row.producer, name, a.delivery_id, "", a.ts.astimezone(tz).isoformat(), _plain(a.liters),
                "", "true", "", format_2dp(a.value), _plain(a.value), "", "", "", "", pricing.scheme.unit, "", "",
                "", "", a.reason,
            ])
    return buffer.getvalue()


__all__ = [
    "LINE_COLUMNS",
    "PriceParts",
    "StatementLine",
    "StatementView",
    "effective_price_per_liter",
    "kind_words",
    "lines_csv_text",
    "price_detail",
    "price_parts",
    "producer_heading",
    "rule_sentence",
    "statement_view",
]
