"""The vectorised engine (`columnar`) equals the plain Decimal reference (`engine`), for every scheme,
on hand cases and random data; and each scheme explains the price it gives."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.payments.engine import compute_fortnight
from hub.payments.errors import PaymentsError
from hub.payments.explain import price_detail, price_parts
from hub.payments.columnar import can_vectorise, compute_fortnight_columnar
from hub.payments.periods import Period
from hub.payments.pricing import SCHEMES as REGISTERED_SCHEMES
from hub.payments.pricing import Pricing, load_pricing, pricing_from_dict
from hub.payments.records import (
    Advance,
    Delivery,
    read_advances_csv,
    read_deliveries_csv,
)

DATA = Path(__file__).parent / "data" / "payments"
D = Decimal
NOV_1 = Period(2026, 11, 1)

# One [price] table per case; every registered scheme that says it can be
# vectorised must have at least one (see test_every_vectorisable_scheme_is_compared).
SCHEMES = {
    "solids_bonus": {"base_per_liter": "1.03", "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.015",
                     "chilled_bonus_per_liter": "0.035", "chilled_max_temp_c": "8"},
    "solids_bonus_no_chilled_bonus": {"base_per_liter": "1.1", "bonus_per_tenth": "0.012",
                                      "penalty_per_tenth": "0.02", "reference_solids_pct": "12"},
    "per_kg_solids": {"scheme": "per_kg_solids", "price_per_kg_solids": "9.125", "kg_per_liter": "1.032",
                      "chilled_bonus_per_liter": "0.02", "chilled_max_temp_c": "6.5"},
    "per_kg_solids_no_chilled_bonus": {"scheme": "per_kg_solids", "price_per_kg_solids": "8.7",
                                       "kg_per_liter": "1.03"},
    "fat_snf_chart": {"scheme": "fat_snf_chart", "fat_bands": ["3.0", "3.5", "4.0"], "snf_bands": ["8.0", "8.5"],
                      "rates": [["0.90", "0.955"], ["1.00", "1.05"], ["1.10", "1.155"]],
                      "below_chart_per_liter": "0.4"},
    "fat_snf_chart_chilled": {"scheme": "fat_snf_chart", "fat_bands": ["3.2", "3.9"], "snf_bands": ["8.1"],
                              "rates": [["0.97"], ["1.125"]], "chilled_bonus_per_liter": "0.015",
                              "chilled_max_temp_c": "7"},
}


def test_every_vectorisable_scheme_is_compared():
    # A new scheme that claims `vectorised` must be added to SCHEMES above, so that
    # the random comparison with the Decimal engine covers it.
    compared = {table.get("scheme", "solids_bonus") for table in SCHEMES.values()}
    vectorisable = {name for name, cls in REGISTERED_SCHEMES.items() if getattr(cls, "vectorised", False)}
    assert vectorisable <= compared, f"add a case to SCHEMES for {sorted(vectorisable - compared)}"
    for table in SCHEMES.values():
        assert can_vectorise(pricing_from_dict({"price": table}))


def test_example_files_equal_the_reference():
    pricing = load_pricing(DATA / "pricing.toml")
    args = (NOV_1, read_deliveries_csv(DATA / "deliveries.csv"), pricing, read_advances_csv(DATA / "advances.csv"))
    assert compute_fortnight_columnar(*args) == compute_fortnight(*args)


def random_deliveries(rng: random.Random, n: int, producers: int) -> list[Delivery]:
    start = datetime(2026, 10, 31, 12, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        accepted = rng.random() > 0.1
        solids = None if (not accepted and rng.random() < 0.5) else D(rng.randint(700, 1500)) / (
            10 ** rng.choice([1, 2, 3]))
        out.append(Delivery(
            id=f"d{i}", producer=f"p{rng.randrange(producers):04d}",
            ts=start + timedelta(seconds=rng.randrange(17 * 86400)),
            liters=D(rng.randint(0, 90000)).scaleb(-rng.choice([0, 1, 2, 3])),
            solids_pct=solids, accepted=accepted,
            milk_temp_c=None if rng.random() < 0.2 else D(rng.randint(20, 150)).scaleb(-1),
            weight_kg=None if rng.random() < 0.3 else D(rng.randint(0, 95000)).scaleb(-2),
            fat_pct=D(rng.randint(250, 500)).scaleb(-2 - rng.choice([0, 1])) if rng.random() < 0.95 else D("2.9"),
            receipt_code=f"R{i}" if rng.random() < 0.5 else None,
        ))
    return out


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_deliveries_equal_the_reference(scheme, seed):
    rng = random.Random(seed * 1000 + len(scheme))
    pricing = pricing_from_dict({"price": SCHEMES[scheme], "fees": {"contribution_per_liter": "0.0175"}})
    deliveries = random_deliveries(rng, 3000, 150)
    advances = [Advance(f"p{rng.randrange(160):04d}", rng.choice(["feed", "veterinary"]),
                        D(rng.randint(1, 30000)).scaleb(-2), rng.choice([1, 2]),
                        rng.choice([NOV_1.previous(), NOV_1])) for _ in range(200)]
    carried = {f"p{rng.randrange(170):04d}": D(rng.randint(0, 5000)).scaleb(-2) for _ in range(30)}
    reference = compute_fortnight(NOV_1, deliveries, pricing, advances, carried)
    vectorised = compute_fortnight_columnar(NOV_1, deliveries, pricing, advances, carried)
    assert vectorised == reference
    assert vectorised.total.gross > 0 and vectorised.outside_period > 0
    without_lines = compute_fortnight_columnar(NOV_1, deliveries, pricing, advances, carried, lines=False)
    assert [r.net for r in without_lines.rows] == [r.net for r in reference.rows]
    assert without_lines.total == reference.total


def test_missing_measures_give_the_reference_error():
    no_factor = pricing_from_dict({"price": {"scheme": "per_kg_solids", "price_per_kg_solids": "9"}})
    chart = pricing_from_dict({"price": SCHEMES["fat_snf_chart"]})
    ts = datetime(2026, 11, 2, 11, tzinfo=timezone.utc)
    unweighed = Delivery("d1", "p1", ts, D(10), D("11.6"), True, fat_pct=D("3.6"))
    no_fat = Delivery("d2", "p1", ts, D(10), D("11.6"), True, weight_kg=D("10.3"))
    for pricing, deliveries in ((no_factor, [unweighed]), (chart, [no_fat])):
        with pytest.raises(PaymentsError) as reference:
            compute_fortnight(NOV_1, deliveries, pricing)
        with pytest.raises(PaymentsError) as vectorised:
            compute_fortnight_columnar(NOV_1, deliveries, pricing)
        assert str(vectorised.value) == str(reference.value)
        assert str(vectorised.value).startswith(f"delivery {deliveries[0].id} of p1: scheme {pricing.scheme.name} needs")


@dataclass(frozen=True)
class TenthOfSolids:
    """A scheme that does not say it can be vectorised (no ``vectorised``, no ``rate_key``)."""

    name = "tenth_of_solids"
    unit = "L"
    needs = ("solids_pct",)

    def rate(self, solids_pct, fat_pct=None):
        return solids_pct / 10

    def quantity(self, liters, weight_kg, solids_pct):
        return liters


def test_a_scheme_that_cannot_be_vectorised_is_priced_by_the_reference():
    pricing = Pricing(scheme=TenthOfSolids(), contribution_per_liter=D("0.02"))
    assert not can_vectorise(pricing)
    deliveries = random_deliveries(random.Random(5), 300, 20)
    reference = compute_fortnight(NOV_1, deliveries, pricing)
    vectorised = compute_fortnight_columnar(NOV_1, deliveries, pricing, lines=False)
    assert vectorised == reference
    assert any(row.lines for row in vectorised.rows)  # the Decimal engine's result, lines and all
    # Claiming `vectorised` without saying its rate key is not enough either.
    TenthOfSolids.vectorised = True
    try:
        assert not can_vectorise(pricing)
    finally:
        del TenthOfSolids.vectorised


def test_every_scheme_is_priced_by_the_columns_on_the_random_data():
    # The comparisons above must test the vectorised engine, not its fallback to the reference.
    from hub.payments.columnar import columns_from_deliveries, compute_columns

    deliveries = random_deliveries(random.Random(7), 3000, 150)
    for table in SCHEMES.values():
        pricing = pricing_from_dict({"price": table})
        compute_columns(NOV_1, columns_from_deliveries(deliveries, NOV_1, pricing.timezone), pricing)


_START = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


def _decimal(low: int, high: int, places: list[int]):
    return st.builds(lambda i, p: D(i).scaleb(-p), st.integers(low, high), st.sampled_from(places))


_delivery = st.builds(
    lambda i, producer, hours, liters, solids, accepted, temp, weight, fat: Delivery(
        id=f"d{i}", producer=f"p{producer}", ts=_START + timedelta(hours=hours), liters=liters, solids_pct=solids,
        accepted=accepted, milk_temp_c=temp, weight_kg=weight, fat_pct=fat),
    st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 300), _decimal(0, 9000, [0, 1, 2]),
    _decimal(600, 1600, [1, 2, 3]), st.booleans(), st.none() | _decimal(0, 200, [0, 1]),
    st.none() | _decimal(0, 9500, [0, 2]), _decimal(200, 600, [1, 2]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scheme=st.sampled_from(sorted(SCHEMES)), deliveries=st.lists(_delivery, min_size=1, max_size=12,
                                                                     unique_by=lambda d: d.id))
def test_the_explained_price_is_the_engines(scheme, deliveries):
    # What a producer reads (the price's parts, from the scheme that priced it) adds up to the
    # value the engine paid, for every scheme; and the engine is the reference's.
    pricing = pricing_from_dict({"price": SCHEMES[scheme]})
    fortnight = compute_fortnight_columnar(NOV_1, deliveries, pricing)
    assert fortnight == compute_fortnight(NOV_1, deliveries, pricing)
    scheme_rule = pricing.scheme
    for row in fortnight.rows:
        for line in row.lines:
            parts = price_parts(pricing, line)
            if parts is None:
                assert not line.accepted and line.value == 0 and price_detail(pricing, line) == ""
                continue
            if parts.base_per_liter is not None:  # a base and a TS step (solids_bonus)
                tenths = parts.solids_tenths
                step = scheme_rule.bonus_per_tenth if tenths >= 0 else scheme_rule.penalty_per_tenth
                assert parts.rate_per_unit == max(parts.base_per_liter + step * tenths, 0)
                assert parts.rate_per_unit == parts.base_per_liter + parts.solids_per_liter
            explained = line.quantity * parts.rate_per_unit + line.liters * parts.chilled_per_liter
            assert explained == line.value
            shown = parts.rate_per_unit + parts.chilled_per_liter if line.unit == "L" else parts.rate_per_unit
            assert shown == line.price_per_liter
            assert price_detail(pricing, line)


@dataclass(frozen=True)
class PerKgOfMilk:
    """A vectorised scheme per kg whose quantity is the kg of milk, not of solids: a quantity the
    columns do not compute, so the reference prices it (never the kg-of-solids formula)."""

    name = "per_kg_of_milk"
    unit = "kg_solids"
    needs = ("solids_pct",)
    vectorised = True
    kg_per_liter = D("1.03")

    def rate(self, solids_pct, fat_pct=None):
        return D("1.1")

    def rate_key(self, solids_pct, fat_pct=None):
        return ()

    def quantity(self, liters, weight_kg, solids_pct):
        return weight_kg if weight_kg is not None else liters * self.kg_per_liter


def test_a_quantity_the_columns_do_not_compute_is_priced_by_the_reference():
    from hub.payments.columnar import refusal

    pricing = Pricing(scheme=PerKgOfMilk())
    assert can_vectorise(pricing) and refusal(pricing)
    deliveries = random_deliveries(random.Random(9), 300, 20)
    assert compute_fortnight_columnar(NOV_1, deliveries, pricing) == compute_fortnight(NOV_1, deliveries, pricing)
    for table in SCHEMES.values():
        assert refusal(pricing_from_dict({"price": table})) is None
