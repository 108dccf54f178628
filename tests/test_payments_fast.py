"""The vectorised engine equals the plain Decimal reference, on hand cases and random data."""

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from hub.payments.engine import compute_fortnight
from hub.payments.fast import compute_fortnight_fast
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing, pricing_from_dict
from hub.payments.records import Advance, Delivery, read_advances_csv, read_deliveries_csv

DATA = Path(__file__).parent / "data" / "payments"
D = Decimal
NOV_1 = Period(2026, 11, 1)

SCHEMES = {
    "solids_bonus": {"base_per_liter": "1.03", "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.015",
                     "chilled_bonus_per_liter": "0.035", "chilled_max_temp_c": "8"},
    "per_kg_solids": {"scheme": "per_kg_solids", "price_per_kg_solids": "9.125", "kg_per_liter": "1.032",
                      "chilled_bonus_per_liter": "0.02", "chilled_max_temp_c": "6.5"},
    "fat_snf_chart": {"scheme": "fat_snf_chart", "fat_bands": ["3.0", "3.5", "4.0"], "snf_bands": ["8.0", "8.5"],
                      "rates": [["0.90", "0.955"], ["1.00", "1.05"], ["1.10", "1.155"]],
                      "below_chart_per_liter": "0.4"},
}


def test_example_files_equal_the_reference():
    pricing = load_pricing(DATA / "pricing.toml")
    args = (NOV_1, read_deliveries_csv(DATA / "deliveries.csv"), pricing, read_advances_csv(DATA / "advances.csv"))
    assert compute_fortnight_fast(*args) == compute_fortnight(*args)


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
    fast = compute_fortnight_fast(NOV_1, deliveries, pricing, advances, carried)
    assert fast == reference
    assert fast.total.gross > 0 and fast.outside_period > 0
    without_lines = compute_fortnight_fast(NOV_1, deliveries, pricing, advances, carried, lines=False)
    assert [r.net for r in without_lines.rows] == [r.net for r in reference.rows]
    assert without_lines.total == reference.total
