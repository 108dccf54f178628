"""Each rule of payments.md with a hand-computed expectation, and the bad-input contract.

Complements test_payments_engine.py (example files, installments, carry-over,
rejected producer, fee cap). Pricing of the contract example unless said
otherwise: base 1.03/L, ref 11.5 %, +0.01 per complete tenth, -0.015 per
started tenth, contribution 0.02/L.
"""

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from hub.cli import main
from hub.payments.engine import compute_fortnight
from hub.payments.errors import PaymentsError
from hub.payments.periods import Period, period_of
from hub.payments.pricing import load_pricing, price_delivery, pricing_from_dict
from hub.payments.records import Delivery

DATA = Path(__file__).parent / "data" / "payments"
PRICING = load_pricing(DATA / "pricing.toml")
D = Decimal
NOV_1 = Period(2026, 11, 1)


def at(text, producer="p1", liters="10", solids="11.50", accepted=True, **extra):
    at.n += 1
    return Delivery(f"d{at.n}", producer, datetime.fromisoformat(text), D(liters),
                    None if solids is None else D(solids), accepted, **extra)


at.n = 0


def pricing(price: dict, **top) -> object:
    return pricing_from_dict({"price": price, "fees": {"contribution_per_liter": "0.02"}, **top})


# ---- solids_bonus: complete tenths above, started tenths below, on the rounded TS


@pytest.mark.parametrize(
    "ts, rounded, price",
    [
        ("11.60", "11.60", "1.04"),  # (11.60 - 11.5) * 10 = 1 complete tenth: 1.03 + 0.01
        ("11.59", "11.59", "1.03"),  # 0.9 tenth: not complete -> base
        ("11.50", "11.50", "1.03"),  # at the reference
        ("11.49", "11.49", "1.015"),  # 0.1 started tenth below: 1.03 - 0.015
        ("11.445", "11.45", "1.015"),  # rounds half-up to 11.45 -> 0.5 tenth started -> 1 tenth
        ("11.444", "11.44", "1.015"),  # 0.6 started -> 1 tenth
        ("11.40", "11.40", "1.015"),  # exactly one tenth below
        ("11.395", "11.40", "1.015"),  # rounds up to 11.40
        ("11.394", "11.39", "1.000"),  # 1.1 tenths started -> 2: 1.03 - 0.030
        ("12.08", "12.08", "1.08"),  # floor(5.8) = 5
        ("4.00", "4.00", "0"),  # 75 tenths * 0.015 = 1.125 > 1.03: floored at 0
    ],
)
def test_solids_bonus_price_on_rounded_ts(ts, rounded, price):
    priced = price_delivery(PRICING, D("10"), D(ts), True)
    assert priced.solids_pct == D(rounded)
    assert priced.price_per_liter == D(price)
    assert priced.value == D("10") * D(price)  # exact, no rounding per delivery


def test_chilled_bonus_at_or_below_the_limit_after_the_floor():
    p = pricing({"base_per_liter": "1.03", "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.015",
                 "chilled_bonus_per_liter": "0.05", "chilled_max_temp_c": "8"})
    # 11.60 % -> 1.04; chilled at 8.0 °C (limit included) -> 1.09 * 10 L = 10.90
    assert price_delivery(p, D(10), D("11.60"), True, D("8.0")).value == D("10.90")
    assert price_delivery(p, D(10), D("11.60"), True, D("8.1")).value == D("10.40")  # too warm
    assert price_delivery(p, D(10), D("11.60"), True, None).value == D("10.40")  # not measured
    # Quality price floored at 0 (4.00 %), chilled bonus still paid: 0.05 * 10 = 0.50
    assert price_delivery(p, D(10), D("4.00"), True, D("4")).value == D("0.50")
    # Rejected: always 0, chilled or not
    assert price_delivery(p, D(10), D("11.60"), False, D("4")).value == 0


def test_per_kg_solids_scheme():
    p = pricing({"scheme": "per_kg_solids", "price_per_kg_solids": "9.00", "kg_per_liter": "1.03"})
    deliveries = [
        # 30.90 kg weighed, TS 11.49 -> 30.90 * 0.1149 = 3.55041 kg TS * 9.00 = 31.95369
        at("2026-11-02T06:00:00-05:00", liters="30.00", solids="11.49", weight_kg=D("30.90")),
        # not weighed: 10 L * 1.03 = 10.30 kg; TS 12.495 -> 12.50: 1.2875 kg TS * 9 = 11.5875
        at("2026-11-03T06:00:00-05:00", liters="10", solids="12.495"),
    ]
    row = compute_fortnight(NOV_1, deliveries, p).rows[0]
    assert [line.value for line in row.lines] == [D("31.95369"), D("11.5875")]
    assert [line.quantity for line in row.lines] == [D("3.55041"), D("1.2875")]
    # gross 43.54119 -> 43.54; fees 40.00 L * 0.02 = 0.80; net 42.74
    assert (row.gross, row.fees, row.net) == (D("43.54"), D("0.80"), D("42.74"))


def test_per_kg_solids_without_weight_or_factor_names_the_delivery():
    p = pricing({"scheme": "per_kg_solids", "price_per_kg_solids": "9.00"})
    with pytest.raises(PaymentsError, match=r"delivery d\d+ of p1: scheme per_kg_solids needs weight_kg"):
        compute_fortnight(NOV_1, [at("2026-11-02T06:00:00-05:00")], p)


CHART = {
    "scheme": "fat_snf_chart",
    "fat_bands": ["3.0", "3.5", "4.0"],
    "snf_bands": ["8.0", "8.5"],
    "rates": [["0.90", "0.95"], ["1.00", "1.05"], ["1.10", "1.15"]],
    "below_chart_per_liter": "0.50",
}


def test_fat_snf_chart_scheme():
    p = pricing(CHART)
    deliveries = [
        # fat 3.60 (band 3.5), SNF 12.10 - 3.60 = 8.50 (band 8.5, bound included) -> 1.05 * 20 = 21.00
        at("2026-11-02T06:00:00-05:00", liters="20", solids="12.10", fat_pct=D("3.60")),
        # fat 3.50, SNF 11.49 - 3.50 = 7.99: below the chart -> 0.50 * 10 = 5.00
        at("2026-11-03T06:00:00-05:00", liters="10", solids="11.49", fat_pct=D("3.50")),
        # fat 4.444 -> 4.44 (band 4.0), TS 12.445 -> 12.45, SNF 8.01 (band 8.0) -> 1.10 * 10 = 11.00
        at("2026-11-04T06:00:00-05:00", liters="10", solids="12.445", fat_pct=D("4.444")),
    ]
    row = compute_fortnight(NOV_1, deliveries, p).rows[0]
    assert [line.price_per_liter for line in row.lines] == [D("1.05"), D("0.50"), D("1.10")]
    # gross 37.00; fees 40 * 0.02 = 0.80; net 36.20
    assert (row.gross, row.fees, row.net) == (D("37.00"), D("0.80"), D("36.20"))
    with pytest.raises(PaymentsError, match="needs fat_pct"):
        compute_fortnight(NOV_1, [at("2026-11-02T06:00:00-05:00")], p)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rates": [["0.90", "0.95"]]}, r"\[price\] rates: expected 3 rows"),
        ({"rates": [["0.90"], ["1"], ["1"]]}, r"\[price\] rates: row 1: expected 2 rates"),
        ({"fat_bands": ["3.5", "3.0", "4.0"]}, r"\[price\] fat_bands: bounds must be strictly ascending"),
        ({"snf_bands": ["8.0", 8.5]}, r"\[price\] snf_bands\[2\]: write decimals as quoted strings"),
        ({"rates": [["0.90", "0.95"], ["1.00", "-1"], ["1.10", "1.15"]]}, r"rates\[2\]\[2\]: must be at least 0"),
    ],
)
def test_bad_chart_names_the_key(change, message):
    with pytest.raises(PaymentsError, match=message):
        pricing({**CHART, **change})


# ---- periods in the association's time zone


@pytest.mark.parametrize(
    "zone, offset",
    [("America/Lima", "-05:00"), ("America/La_Paz", "-04:00")],
)
def test_23_59_and_00_00_local_at_the_boundary(zone, offset):
    p = pricing({"base_per_liter": "1.03", "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.015"},
                timezone=zone)
    late = at(f"2026-11-15T23:59:00{offset}")  # already the 16th in UTC
    midnight = at(f"2026-11-16T00:00:00{offset}")
    assert late.ts.astimezone(timezone.utc).day == 16
    first = compute_fortnight(NOV_1, [late, midnight], p)
    second = compute_fortnight(NOV_1.next(), [late, midnight], p)
    assert [line.id for line in first.rows[0].lines] == [late.id]
    assert [line.id for line in second.rows[0].lines] == [midnight.id]
    # Month boundary as well: 23:59 on the 30th is in -2, 00:00 on Dec 1st in 2026-12-1.
    assert period_of(datetime.fromisoformat(f"2026-11-30T23:59:00{offset}"), p.timezone) == Period(2026, 11, 2)
    assert period_of(datetime.fromisoformat(f"2026-12-01T00:00:00{offset}"), p.timezone) == Period(2026, 12, 1)


def test_the_same_instant_is_in_different_periods_in_lima_and_la_paz():
    instant = datetime(2026, 11, 16, 4, 30, tzinfo=timezone.utc)  # 23:30 Lima, 00:30 La Paz
    lima = pricing({"base_per_liter": "1", "bonus_per_tenth": "0", "penalty_per_tenth": "0"})
    la_paz = pricing({"base_per_liter": "1", "bonus_per_tenth": "0", "penalty_per_tenth": "0"},
                     timezone="America/La_Paz")
    assert period_of(instant, lima.timezone) == NOV_1
    assert period_of(instant, la_paz.timezone) == NOV_1.next()


def test_end_of_february():
    assert Period(2027, 2, 2).last_day() == date(2027, 2, 28)
    assert Period(2028, 2, 2).last_day() == date(2028, 2, 29)  # leap year
    feb = Period(2028, 2, 2)
    leap_day = at("2028-02-29T23:59:00-05:00")
    march = at("2028-03-01T00:00:00-05:00")
    fortnight = compute_fortnight(feb, [leap_day, march], PRICING)
    assert [line.id for line in fortnight.rows[0].lines] == [leap_day.id]
    assert fortnight.outside_period == 1
    assert feb.next() == Period(2028, 3, 1)
    assert compute_fortnight(Period(2027, 2, 2), [at("2027-02-28T23:59:00-05:00")], PRICING).rows[0].deliveries == 1


def test_receipt_code_is_kept_on_the_line():
    row = compute_fortnight(NOV_1, [at("2026-11-02T06:00:00-05:00", receipt_code="7K3Q-9MXA")], PRICING).rows[0]
    assert row.lines[0].receipt_code == "7K3Q-9MXA"


# ---- bad input: one line naming file, row and field; no output files

HEADER = "id,producer,ts,liters,solids_pct,accepted\n"
GOOD_ROW = "d1,p1,2026-11-02T06:00:00-05:00,10,11.60,true\n"


@pytest.mark.parametrize(
    "deliveries, advances, pricing_text, expected",
    [
        (HEADER + GOOD_ROW, None, '[price]\nscheme = "by_weight"\nbase_per_liter = "1"\n',
         "pricing.toml: [price] scheme: unknown scheme 'by_weight'"),
        (HEADER + GOOD_ROW + "d2,p1,2026-11-03T06:00:00-05:00,10,11.6O,true\n", None, None,
         "deliveries.csv: row 3, field solids_pct: not a decimal: '11.6O'"),
        (HEADER + GOOD_ROW + "d2,p1,2026-11-03T06:00:00-05:00,10\n", None, None,
         "deliveries.csv: row 3: expected 6 fields, found 4"),
        (HEADER + "d1,p1,2026-11-02T06:00:00-05:00,-3,11.60,true\n", None, None,
         "deliveries.csv: row 2, field liters: negative value '-3'"),
        (HEADER + GOOD_ROW, "producer,kind,amount,installments,first_period\np1,feed,5.00,1,2026-11-3\n", None,
         "advances.csv: row 2, field first_period: period '2026-11-3'"),
        (HEADER + GOOD_ROW, "producer,kind,amount,installments,first_period\np1,feed,5.00,1,2026-13-1\n", None,
         "advances.csv: row 2, field first_period: period '2026-13-1'"),
    ],
)
def test_bad_input_one_line_and_no_output(tmp_path, capsys, deliveries, advances, pricing_text, expected):
    (tmp_path / "deliveries.csv").write_text(deliveries)
    (tmp_path / "pricing.toml").write_text(pricing_text or (DATA / "pricing.toml").read_text())
    argv = ["payments", "--period", "2026-11-1", "--deliveries", str(tmp_path / "deliveries.csv"),
            "--pricing", str(tmp_path / "pricing.toml"), "--out", str(tmp_path / "out"), "--quiet", "--lang", "en"]
    if advances:
        (tmp_path / "advances.csv").write_text(advances)
        argv += ["--advances", str(tmp_path / "advances.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("milk-hub: " + str(tmp_path) + "/" + expected), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("deliveries, pricing_text, expected", [
    (HEADER + "d1,p1,2026-11-02T06:00:00-05:00,-3,11.60,true\n", None,
     "deliveries.csv: fila 2, campo liters: valor negativo '-3'"),
    (HEADER + GOOD_ROW + "d2,p1,2026-11-02T06:00:00,10,11.60,true\n", None,
     "deliveries.csv: fila 3, campo ts: falta la diferencia con UTC en '2026-11-02T06:00:00' "
     "(escriba p. ej. 2026-11-15T06:30:00-05:00)"),
    ("id,producer,ts\n", None,
     "deliveries.csv: fila 1: falta(n) la(s) columna(s) liters, solids_pct, accepted "
     "(obligatorias: id, producer, ts, liters, solids_pct, accepted)"),
    (HEADER + GOOD_ROW, '[price]\nscheme = "by_weight"\nbase_per_liter = "1"\n',
     "pricing.toml: [price] scheme: esquema desconocido 'by_weight'"),
])
def test_bad_input_is_spanish_by_default(tmp_path, capsys, monkeypatch, deliveries, pricing_text, expected):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "deliveries.csv").write_text(deliveries)
    (tmp_path / "pricing.toml").write_text(pricing_text or (DATA / "pricing.toml").read_text())
    assert main(["payments", "--period", "2026-11-1", "--deliveries", str(tmp_path / "deliveries.csv"),
                 "--pricing", str(tmp_path / "pricing.toml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("milk-hub: " + str(tmp_path) + "/" + expected), err
    monkeypatch.setenv("LANG", "en_GB.UTF-8")  # the locale says English: English
    assert main(["payments", "--period", "2026-11-1", "--deliveries", str(tmp_path / "deliveries.csv"),
                 "--pricing", str(tmp_path / "pricing.toml"), "--out", str(tmp_path / "out")]) == 2
    assert "fila" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
