"""Exact decimal helpers shared by the payment engine: parsing, rounding, printing.

Every amount of money, every volume and every percentage in `hub.payments` is
a `decimal.Decimal`. Binary floats never enter: a float cannot hold 1.03 or
11.6 exactly, and a producer who checks a statement against a receipt must
get the same cent.
"""

from __future__ import annotations

import re
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from math import floor

CENT = Decimal("0.01")
ZERO = Decimal(0)

# Arithmetic context for the engine. With the largest precision, adding and
# multiplying finite decimals is always exact, and trapping Inexact turns any
# operation that would silently round (a division) into an error instead of a
# wrong cent. Rounding is done only on purpose, with `round_half_up` and
# `round_down_cents`, which quantize under their own context.
EXACT = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    rounding=ROUND_HALF_UP,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
_ROUNDING = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])

# Plain decimal notation only: no exponent ("1e3"), no "NaN"/"Infinity", no
# digit separators ("1_000", "1,5"). Operators type these files by hand and a
# decimal comma must be an error, not a different number.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_decimal(text: str) -> Decimal:
    """Read plain decimal text such as ``"1.03"`` or ``"-3"`` exactly.

    Raises ValueError whose message is the reason, e.g. ``not a decimal: 'abc'``,
    so that callers can prefix the file, row and field.
    """
    stripped = text.strip()
    if not _DECIMAL_TEXT.fullmatch(stripped):
        raise ValueError(f"not a decimal: {text!r}")
    return Decimal(stripped)


def round_half_up(value: Decimal, places: Decimal = CENT) -> Decimal:
    """Round half-up (0.005 -> 0.01) to ``places`` (default: the cent)."""
    return value.quantize(places, rounding=ROUND_HALF_UP, context=_ROUNDING)


def round_down_cents(value: Decimal) -> Decimal:
    """Truncate a non-negative amount to the cent (5.005 -> 5.00)."""
    return value.quantize(CENT, rounding=ROUND_DOWN, context=_ROUNDING)


def mean_half_up(numerator: Decimal, denominator: Decimal, places: int = 2) -> Decimal:
    """``numerator / denominator`` rounded half-up to ``places`` decimals, exactly.

    Decimal division rounds to the context precision before any quantize,
    which could round twice; fractions keep the quotient exact until the one
    rounding. Both arguments must be non-negative and the denominator > 0.
    """
    scaled = Fraction(numerator) / Fraction(denominator) * 10**places
    return Decimal(floor(scaled + Fraction(1, 2))).scaleb(-places, context=_ROUNDING)


def format_2dp(value: Decimal) -> str:
    """Money or litres as printed: exactly two decimals, half-up (``"0.80"``)."""
    return f"{round_half_up(value):f}"


def format_plain(value: Decimal, min_places: int = 2) -> str:
    """An exact value in plain notation, with at least ``min_places`` decimals.

    Used for per-delivery values and prices, which are kept exact (26.416,
    1.015) so that a producer can redo the multiplication; trailing zeros
    beyond ``min_places`` are dropped.
    """
    exponent = value.normalize(context=_ROUNDING).as_tuple().exponent
    places = max(min_places, -exponent) if isinstance(exponent, int) else min_places
    return f"{value.quantize(Decimal(1).scaleb(-places), context=_ROUNDING):f}"
