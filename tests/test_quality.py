"""Quality formulas against the worked examples of docs/quality.md."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from collector_station.cli import main as station_main
from collector_station.intake.quality import (assess, density_at_15c, lactometer_degrees,
                                       liters_from_weight, total_solids_pct)

D = Decimal


def test_lactometer_degrees_example():
    assert lactometer_degrees(D("1.031")) == 31


def test_temperature_correction_example():
    # L = 30 read at 25 °C -> 32 at 15 °C.
    assert lactometer_degrees(density_at_15c(D("1.030"), D("25"))) == 32


@pytest.mark.parametrize("formula, expected", [
    ("richmond", D("12.09")), ("fleischmann", D("12.21")), ("bis", D("12.74")),
])
def test_solids_worked_examples(formula, expected):
    result = assess(D("1.031"), D("15"), D("3.5"), formula=formula)
    assert result.solids_pct_2dp == expected
    assert result.snf_pct_2dp == expected - D("3.5")


def test_richmond_exact_value_kept_at_full_precision():
    # L/4 + 1.2F + 0.14 with L = 31.02: 7.755 + 4.2 + 0.14 = 12.095 exactly,
    # which half-up gives 12.10 (binary floats give 12.094999... -> 12.09).
    result = assess(D("1.03102"), D("15"), D("3.5"))
    assert result.solids_pct == D("12.095")
    assert result.solids_pct_2dp == D("12.10")


def test_compensated_density_is_not_corrected_twice():
    raw = assess(D("1.031"), D("25"), D("3.5"))
    comp = assess(D("1.031"), D("25"), D("3.5"), compensated=True)
    assert raw.density_15c == D("1.033")
    assert comp.density_15c == D("1.031")
    assert "density_temp_outside_range" in raw.flags
    assert "density_temp_outside_range" not in comp.flags


@pytest.mark.parametrize("density, flag", [
    ("1.026", "added_water_suspect"), ("1.035", "skim_suspect"),
])
def test_density_flags(density, flag):
    assert flag in assess(D(density), D("15"), D("3.5")).flags


def test_default_fat_and_min_solids_flag():
    result = assess(D("1.026"), D("15"))
    assert result.fat_source == "default" and result.fat_pct == D("3.5")
    # 26/4 + 4.2 + 0.14 = 10.84 < 11.5
    assert result.solids_pct_2dp == D("10.84")
    assert "below_min_solids" in result.flags


def test_freezing_point_flag():
    assert "freezing_point_water_suspect" in assess(D("1.030"), D("15"), D("3.5"),
                                                    freezing_point_c=D("-0.500")).flags
    assert "freezing_point_water_suspect" not in assess(D("1.030"), D("15"), D("3.5"),
                                                        freezing_point_c=D("-0.540")).flags


def test_liters_from_weight_measured_and_default():
    assert liters_from_weight(D("10.31"), D("1.031")) == (D("10.000"), "measured")
    assert liters_from_weight(D("10.32"), None) == (D("10.000"), "default")


densities = st.decimals(min_value=D("1.020"), max_value=D("1.040"), places=4)
fats = st.decimals(min_value=D("2.0"), max_value=D("6.0"), places=2)


@given(densities, densities, fats, st.sampled_from(["richmond", "fleischmann", "bis"]))
def test_solids_monotonic_in_density(d1, d2, fat, formula):
    lo, hi = sorted((d1, d2))
    assert total_solids_pct(formula, fat, lo) <= total_solids_pct(formula, fat, hi)


@given(densities, fats, fats, st.sampled_from(["richmond", "fleischmann", "bis"]))
def test_solids_monotonic_in_fat(d, f1, f2, formula):
    lo, hi = sorted((f1, f2))
    assert total_solids_pct(formula, lo, d) <= total_solids_pct(formula, hi, d)


@given(densities, st.decimals(min_value=D("0"), max_value=D("15"), places=1))
def test_correction_symmetric_around_15c(d, delta):
    up = density_at_15c(d, D("15") + delta) - d
    down = density_at_15c(d, D("15") - delta) - d
    assert up == -down


def test_assess_cli_json(capsys):
    assert station_main(["assess", "--density", "1.031", "--temp-c", "15", "--fat", "3.5",
                         "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solids_pct"] == 12.09 and out["lactometer_15c"] == 31.0
    assert out["density_15c"] == 1.031 and out["snf_pct"] == 8.59 and out["flags"] == []


def test_assess_cli_bad_input_is_one_line(capsys):
    assert station_main(["assess", "--density", "31", "--temp-c", "15"]) == 2
    err = capsys.readouterr().err
    assert "g/mL" in err and err.count("\n") == 1 and "Traceback" not in err
