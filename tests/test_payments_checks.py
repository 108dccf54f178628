"""Sanity checks (docs/payments.md, "Warnings"): each implausible value with its Spanish message on
standard error and in DIR/warnings.txt, exit 0; --strict stops the run and writes nothing."""

from pathlib import Path

import pytest

from hub.cli import main

DATA = Path(__file__).parent / "data" / "payments"
HEADER = "id,producer,ts,liters,solids_pct,accepted,milk_temp_c\n"
PRICING = """\
timezone = "America/Lima"
currency = "PEN"
[price]
base_per_liter = "{base}"
bonus_per_tenth = "0.01"
penalty_per_tenth = "0.015"
[limits]
max_liters_per_delivery = "200"
min_price_per_liter = "0.30"
max_price_per_liter = "3.00"
"""
GOOD = "d0,p001,2026-11-02T06:00:00-05:00,20.00,11.60,true,6\n"


def run(tmp_path, deliveries, *extra, base="1.03", advances=None, out="out"):
    (tmp_path / "pricing.toml").write_text(PRICING.format(base=base))
    (tmp_path / "deliveries.csv").write_text(HEADER + deliveries)
    args = ["payments", "--period", "2026-11-1", "--pricing", str(tmp_path / "pricing.toml"),
            "--deliveries", str(tmp_path / "deliveries.csv"), "--out", str(tmp_path / out), "--quiet",
            "--no-pdf", "--lang", "es", *extra]
    if advances is not None:
        (tmp_path / "advances.csv").write_text("producer,kind,amount,installments,first_period\n" + advances)
        args += ["--advances", str(tmp_path / "advances.csv")]
    return main(args)


@pytest.mark.parametrize("deliveries, base, advances, message", [
    ("d1,p001,2026-11-03T06:00:00-05:00,20.00,25,true,6\n", "1.03", None,
     "Entrega d1 de p001 (03/11/2026): ST 25 % fuera del rango plausible 8-16 %."),
    ("d1,p001,2026-11-03T06:00:00-05:00,20.00,7.95,true,6\n", "1.03", None,
     "Entrega d1 de p001 (03/11/2026): ST 7.95 % fuera del rango plausible 8-16 %."),
    ("d1,p001,2026-11-03T06:00:00-05:00,5000,11.6,true,6\n", "1.03", None,
     "Entrega d1 de p001 (03/11/2026): 5000 L en una sola entrega, más que el límite de 200 L."),
    ("d1,p001,2026-11-03T06:00:00-05:00,20.00,11.6,true,200\n", "1.03", None,
     "Entrega d1 de p001 (03/11/2026): leche a 200 °C, fuera del rango plausible 0-45 °C."),
    ("d1,p001,2026-11-03T06:00:00-05:00,20.00,11.6,true,-3\n", "1.03", None,
     "Entrega d1 de p001 (03/11/2026): leche a -3 °C, fuera del rango plausible 0-45 °C."),
    # A tenfold base price: 10.30 + 0.01 = 10.31 per litre, outside the band 0.30-3.00.
    ("d1,p001,2026-11-03T06:00:00-05:00,20.00,11.6,true,6\n", "10.30", None,
     "Entrega d1 de p001 (03/11/2026): precio 10.31 PEN/L fuera de la banda 0.30-3.00."),
    ("", "1.03", None, "Quincena 2026-11-1: no hay ninguna entrega."),
    (GOOD, "1.03", "p999,feed,50.00,1,2026-11-1\n",
     "Adelanto a p999 (alimento, 50.00, desde 2026-11-1): productor desconocido, sin entregas en esta quincena."),
])
def test_each_check_warns_in_spanish_and_the_run_goes_on(tmp_path, capsys, deliveries, base, advances, message):
    assert run(tmp_path, deliveries, base=base, advances=advances) == 0
    err = capsys.readouterr().err
    assert f"  {message}\n" in err
    assert err.startswith("1 advertencia(s) para revisar (también en ")
    assert (tmp_path / "out" / "warnings.txt").read_text() == message + "\n"
    assert (tmp_path / "out" / "statements.csv").exists()


def test_strict_stops_on_one_line_and_writes_nothing(tmp_path, capsys):
    # An earlier good run's outputs stay as they were.
    assert run(tmp_path, GOOD) == 0
    before = (tmp_path / "out" / "statements.csv").read_text()
    assert (tmp_path / "out" / "warnings.txt").read_text() == ""
    capsys.readouterr()
    assert run(tmp_path, GOOD + "d1,p001,2026-11-03T06:00:00-05:00,20.00,25,true,200\n", "--strict") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == ("milk-hub: --strict: 2 advertencia(s), no se escribió nada; la primera: Entrega d1 de p001 "
                   "(03/11/2026): ST 25 % fuera del rango plausible 8-16 %.\n")
    assert (tmp_path / "out" / "statements.csv").read_text() == before
    assert (tmp_path / "out" / "warnings.txt").read_text() == ""
    assert run(tmp_path, GOOD, "--strict", out="fresh") == 0  # nothing to warn about: strict runs


def test_the_registry_decides_who_is_unknown(tmp_path, capsys):
    (tmp_path / "producers.csv").write_text("code,name\np001,Juana\n")
    deliveries = GOOD + "d2,p777,2026-11-03T06:00:00-05:00,10.00,11.6,true,6\n"
    assert run(tmp_path, deliveries, "--producers", str(tmp_path / "producers.csv"),
               advances="p001,feed,10.00,1,2026-11-1\np888,veterinary,20.00,2,2026-12-1\n") == 0
    warnings = (tmp_path / "out" / "warnings.txt").read_text().splitlines()
    assert warnings == [
        "Productor p777: 1 entrega(s), pero no está en el registro de productores.",
        "Adelanto a p888 (veterinario, 20.00, desde 2026-12-1): productor desconocido, no está en el registro.",
    ]


def test_warnings_follow_the_language(tmp_path, capsys):
    assert run(tmp_path, "", "--lang", "en") == 0
    assert (tmp_path / "out" / "warnings.txt").read_text() == "Fortnight 2026-11-1: no deliveries at all.\n"
    assert "1 warning(s) to review" in capsys.readouterr().err


def test_limits_are_checked_in_the_pricing_file(tmp_path, capsys):
    (tmp_path / "pricing.toml").write_text(PRICING.format(base="1.03").replace("max_liters_per_delivery",
                                                                               "max_litres"))
    (tmp_path / "deliveries.csv").write_text(HEADER + GOOD)
    assert main(["payments", "--period", "2026-11-1", "--pricing", str(tmp_path / "pricing.toml"),
                 "--deliveries", str(tmp_path / "deliveries.csv"), "--out", str(tmp_path / "out"),
                 "--no-pdf", "--lang", "es"]) == 2
    assert "[limits] max_litres: clave desconocida" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
