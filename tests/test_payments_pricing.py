"""The pricing file and the price of one delivery (payments.md, scheme solids_bonus).

Example pricing (contracts.md): base 1.03 PEN/L, reference 11.5 % TS,
+0.01 per complete tenth above, -0.015 per started tenth below.
"""

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.payments.errors import PaymentsError
from hub.payments.pricing import Pricing, SolidsBonus, load_pricing, price_delivery

DATA = Path(__file__).parent / "data" / "payments"
D = Decimal

CONTRACT = Pricing(
    scheme=SolidsBonus(
        base_per_liter=D("1.03"),
        bonus_per_tenth=D("0.01"),
        penalty_per_tenth=D("0.015"),
        reference_solids_pct=D("11.5"),
    ),
    timezone=ZoneInfo("America/Lima"),
    currency="PEN",
    chilled_bonus_per_liter=D("0.00"),
    chilled_max_temp_c=D("8"),
    contribution_per_liter=D("0.02"),
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pricing.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[price]
base_per_liter = "1.03"
bonus_per_tenth = "0.01"
penalty_per_tenth = "0.015"
"""


def test_example_file_of_the_contract_loads():
    assert load_pricing(DATA / "pricing.toml") == CONTRACT


def test_defaults(tmp_path):
    pricing = load_pricing(write(tmp_path, MINIMAL))
    assert pricing.timezone == ZoneInfo("America/Lima")
    assert pricing.currency == "PEN"
    assert pricing.scheme.reference_solids_pct == D("11.5")
    assert pricing.chilled_bonus_per_liter == 0
    assert pricing.chilled_max_temp_c is None
    assert pricing.contribution_per_liter == 0
    assert pricing.association == ""


def test_integers_are_accepted_as_decimals(tmp_path):
    pricing = load_pricing(write(tmp_path, MINIMAL.replace('"1.03"', "1") + 'reference_solids_pct = 12\n'))
    assert pricing.scheme.base_per_liter == D(1)
    assert pricing.scheme.reference_solids_pct == D(12)


def test_bolivia(tmp_path):
    pricing = load_pricing(write(tmp_path, 'timezone = "America/La_Paz"\ncurrency = "BOB"\n' + MINIMAL))
    assert (pricing.timezone.key, pricing.currency) == ("America/La_Paz", "BOB")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            MINIMAL.replace('"1.03"', '"abc"'),
            "pricing.toml: [price] base_per_liter: not a decimal: 'abc'",
        ),
        (
            MINIMAL.replace('"1.03"', "1.03"),
            "pricing.toml: [price] base_per_liter: write decimals as quoted strings "
            '(base_per_liter = "1.03"), not as a TOML float',
        ),
        (
            MINIMAL.replace('bonus_per_tenth = "0.01"\n', ""),
            "pricing.toml: [price] bonus_per_tenth: missing (required)",
        ),
        (
            MINIMAL + 'bonus_per_tenths = "0.01"\n',
            "pricing.toml: [price] bonus_per_tenths: unknown key (known keys: base_per_liter, "
            "bonus_per_tenth, chilled_bonus_per_liter, chilled_max_temp_c, penalty_per_tenth, "
            "reference_solids_pct, scheme)",
        ),
        (
            'colour = "blue"\n' + MINIMAL,
            "pricing.toml: colour: unknown key (known keys: association, currency, fees, limits, price, reconcile, timezone)",
        ),
        (
            MINIMAL + '[fees]\ncontribution = "0.02"\n',
            "pricing.toml: [fees] contribution: unknown key (known keys: contribution_per_liter)",
        ),
        (
            MINIMAL + 'scheme = "volume_only"\n',
            "pricing.toml: [price] scheme: unknown scheme 'volume_only' (supported: fat_snf_chart, per_kg_solids, solids_bonus)",
        ),
        (
            MINIMAL + 'scheme = "per_kg_solids"\n',
            "pricing.toml: [price] price_per_kg_solids: missing (required)",
        ),
        (
            'timezone = "America/Cusco"\n' + MINIMAL,
            "pricing.toml: timezone: unknown time zone 'America/Cusco' (e.g. America/Lima, America/La_Paz)",
        ),
        ('currency = "soles"\n' + MINIMAL, "pricing.toml: currency: expected a 3-letter ISO code"),
        (MINIMAL.replace('"0.015"', '"-0.015"'), "pricing.toml: [price] penalty_per_tenth: must be at least 0"),
        (MINIMAL.replace('"1.03"', '"NaN"'), "pricing.toml: [price] base_per_liter: not a decimal: 'NaN'"),
        (MINIMAL.replace('"1.03"', '"1,03"'), "pricing.toml: [price] base_per_liter: not a decimal: '1,03'"),
        (
            MINIMAL + 'chilled_bonus_per_liter = "0.05"\n',
            "pricing.toml: [price] chilled_max_temp_c: missing (required when chilled_bonus_per_liter is above zero)",
        ),
        ('timezone = "America/Lima"\n', "pricing.toml: [price]: missing table (required)"),
        ('price = "1.03"\n', "pricing.toml: price: must be a table [price], not '1.03'"),
        ("[price\n", "pricing.toml: not valid TOML"),
    ],
)
def test_bad_pricing_names_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(PaymentsError) as error:
        load_pricing(path)
    message = str(error.value)
    assert message.startswith(str(path.parent) + "/" + expected), message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(PaymentsError, match="nope.toml: cannot read pricing file"):
        load_pricing(tmp_path / "nope.toml")


def price(solids_pct: str, pricing: Pricing = CONTRACT, temp_c: str | None = None) -> Decimal:
    temp = None if temp_c is None else D(temp_c)
    return price_delivery(pricing, D("1"), D(solids_pct), True, temp).price_per_liter


@pytest.mark.parametrize(
    "solids_pct, expected, why",
    [
        ("11.50", "1.03", "at the reference: base"),
        ("11.60", "1.04", "(11.60-11.5)*10 = 1.0 -> floor 1 complete tenth: 1.03 + 0.01"),
        ("11.59", "1.03", "(11.59-11.5)*10 = 0.9 -> floor 0: no bonus"),
        ("11.595", "1.04", "rounds half-up to 11.60 -> 1 tenth (unrounded would be 0)"),
        ("12.08", "1.08", "(12.08-11.5)*10 = 5.8 -> floor 5: 1.03 + 5*0.01"),
        ("11.49", "1.015", "(11.5-11.49)*10 = 0.1 -> ceil 1 started tenth: 1.03 - 0.015"),
        ("11.445", "1.015", "rounds half-up to 11.45; (11.5-11.45)*10 = 0.5 -> ceil 1: 1.03 - 0.015"),
        ("11.395", "1.015", "rounds to 11.40; (11.5-11.40)*10 = 1.0 -> ceil 1 (unrounded 1.05 would be 2)"),
        ("11.394", "1.000", "rounds to 11.39; (11.5-11.39)*10 = 1.1 -> ceil 2: 1.03 - 0.030"),
        ("10.00", "0.805", "(11.5-10)*10 = 15 -> 15 tenths: 1.03 - 0.225"),
        ("4.70", "0.010", "(11.5-4.70)*10 = 68 tenths * 0.015 = 1.020: 1.03 - 1.020, still above zero"),
    ],
)
def test_solids_bonus_price_per_liter(solids_pct, expected, why):
    assert price(solids_pct) == D(expected), why


def test_price_never_below_zero():
    # 4.60 %: (11.5-4.6)*10 = 69 tenths * 0.015 = 1.035 > 1.03 -> 1.03-1.035 = -0.005 -> 0.
    assert price("4.60") == 0
    assert price("0") == 0
    priced = price_delivery(CONTRACT, D("20"), D("4.60"), True)
    assert priced.value == 0


def test_rejected_delivery_is_worth_zero_but_keeps_its_rounded_solids():
    priced = price_delivery(CONTRACT, D("12.5"), D("12.345"), False)
    assert (priced.solids_pct, priced.price_per_liter, priced.value) == (D("12.35"), 0, 0)
    assert price_delivery(CONTRACT, D("12.5"), None, False).solids_pct is None


def test_value_is_exact_liters_times_price():
    # 25.40 L * 1.04 = 26.4160 (no rounding per delivery)
    priced = price_delivery(CONTRACT, D("25.40"), D("11.62"), True)
    assert priced.value == D("26.4160")
    # 10.5 L at 11.445 % -> 1.015/L -> 10.6575
    assert price_delivery(CONTRACT, D("10.5"), D("11.445"), True).value == D("10.6575")


def test_chilled_bonus_only_at_or_below_the_limit_and_with_a_known_temperature():
    chilled = Pricing(
        scheme=CONTRACT.scheme, chilled_bonus_per_liter=D("0.05"), chilled_max_temp_c=D("8")
    )
    # 11.60 % -> 1.04; chilled adds 0.05 -> 1.09
    assert price("11.60", chilled, "8") == D("1.09")
    assert price("11.60", chilled, "7.9") == D("1.09")
    assert price("11.60", chilled, "8.1") == D("1.04")
    assert price("11.60", chilled, None) == D("1.04")
    # The bonus is added after the quality price is floored at zero: 4.60 % -> 0 + 0.05.
    assert price("4.60", chilled, "4") == D("0.05")
    assert price_delivery(chilled, D(10), D("11.60"), True, D(4)).chilled
    assert not price_delivery(CONTRACT, D(10), D("11.60"), True, D(4)).chilled  # bonus 0.00


def test_accepted_delivery_without_solids_cannot_be_priced():
    with pytest.raises(ValueError):
        price_delivery(CONTRACT, D(10), None, True)


def test_the_pricing_time_zone_decides_the_period_of_a_delivery(tmp_path):
    # 2026-11-16 04:30 UTC is 23:30 on the 15th in Lima (UTC-5), 00:30 on the 16th in La Paz (UTC-4).
    from datetime import datetime, timezone

    from hub.payments.engine import compute_fortnight
    from hub.payments.periods import Period
    from hub.payments.records import Delivery

    late_evening = Delivery("d1", "p1", datetime(2026, 11, 16, 4, 30, tzinfo=timezone.utc), D(10), D("11.6"), True)
    lima = load_pricing(write(tmp_path, MINIMAL))
    la_paz = load_pricing(write(tmp_path, 'timezone = "America/La_Paz"\n' + MINIMAL))
    # `zone` is what the CLI reads InfluxDB in: the period's bounds must be the same instants.
    assert la_paz.zone.key == "America/La_Paz"
    assert Period(2026, 11, 1).bounds(la_paz.zone)[1] == datetime(2026, 11, 16, 4, tzinfo=timezone.utc)

    in_lima = compute_fortnight(Period(2026, 11, 1), [late_evening], lima)
    assert (in_lima.total.deliveries, in_lima.outside_period) == (1, 0)
    in_la_paz = compute_fortnight(Period(2026, 11, 1), [late_evening], la_paz)
    assert (in_la_paz.total.deliveries, in_la_paz.outside_period) == (0, 1)
    assert compute_fortnight(Period(2026, 11, 2), [late_evening], la_paz).total.deliveries == 1
