"""Spanish first: both command lines speak Spanish unless told otherwise (--lang, then the
config's `language`, then a locale that starts with `en`), argparse's own messages included."""

import argparse
from pathlib import Path

import pytest

from collector_station.cli import main as station_main
from hub.cli import main as hub_main
from milk_common.cli import command_line_language

DATA = Path(__file__).parent / "data" / "payments"


@pytest.fixture
def no_locale(monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "MILK_HUB_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def error_of(main, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no usage block, no traceback
    return err


def test_argparse_errors_are_spanish_by_default(no_locale, capsys):
    assert error_of(hub_main, ["payments", "--period", "2026-11-1"], capsys) == \
        "milk-hub payments: error: faltan los argumentos obligatorios: --pricing, --out\n"
    err = error_of(hub_main, ["pay"], capsys)
    assert err.startswith("milk-hub: error: argumento command: opción no válida: 'pay' (elija entre ")
    assert error_of(hub_main, ["payments", "--period", "x", "--pricing", "p", "--out", "o", "--lang", "fr"],
                    capsys).endswith("argumento --lang: opción no válida: 'fr' (elija entre 'es', 'en')\n")
    assert error_of(station_main, ["assess", "--density", "1.03"], capsys) == \
        "collector-station assess: error: faltan los argumentos obligatorios: --temp-c\n"
    assert argparse._("usage: ") == "usage: "  # argparse itself is left as it was


def test_english_when_the_locale_or_the_flag_says_so(no_locale, capsys):
    no_locale.setenv("LANG", "en_US.UTF-8")
    assert error_of(hub_main, ["payments", "--period", "2026-11-1"], capsys) == \
        "milk-hub payments: error: the following arguments are required: --pricing, --out\n"
    no_locale.setenv("LANG", "es_BO.UTF-8")
    assert "faltan" in error_of(station_main, ["assess", "--density", "1.03"], capsys)
    assert "required" in error_of(station_main, ["assess", "--density", "1.03", "--lang", "en"], capsys)
    no_locale.setenv("LC_ALL", "en_GB.UTF-8")  # LC_ALL before LANG
    assert "required" in error_of(hub_main, ["payments", "--period", "2026-11-1"], capsys)


def test_the_config_language_comes_between_the_flag_and_the_locale(no_locale, tmp_path, capsys):
    (tmp_path / "hub.toml").write_text('language = "en"\n')
    config = str(tmp_path / "hub.toml")
    assert command_line_language(["payments", "--config", config]) == "en"
    assert command_line_language(["payments", "--config", config, "--lang", "es"]) == "es"
    assert command_line_language(["payments"]) == "es"
    no_locale.setenv("MILK_HUB_CONFIG", config)
    assert command_line_language(["payments"], "MILK_HUB_CONFIG") == "en"
    # The same order for a command's own messages: a bad deliveries file, in the config's English.
    (tmp_path / "d.csv").write_text("id,producer\n")
    assert hub_main(["payments", "--period", "2026-11-1", "--pricing", str(DATA / "pricing.toml"),
                     "--deliveries", str(tmp_path / "d.csv"), "--out", str(tmp_path / "out"),
                     "--config", config]) == 2
    assert "row 1: missing column(s) ts" in capsys.readouterr().err
    assert hub_main(["payments", "--period", "2026-11-1", "--pricing", str(DATA / "pricing.toml"),
                     "--deliveries", str(tmp_path / "d.csv"), "--out", str(tmp_path / "out"),
                     "--config", config, "--lang", "es"]) == 2
    assert "fila 1: falta(n) la(s) columna(s) ts" in capsys.readouterr().err


def test_help_is_spanish_too(no_locale, capsys):
    with pytest.raises(SystemExit):
        hub_main(["payments", "-h"])
    out = capsys.readouterr().out
    assert out.startswith("uso: milk-hub payments")
    assert "opciones:" in out and "muestra esta ayuda y termina" in out


def test_statements_follow_the_same_rule(no_locale, tmp_path):
    no_locale.setenv("LANG", "en_US.UTF-8")
    assert hub_main(["payments", "--period", "2026-11-1", "--pricing", str(DATA / "pricing.toml"),
                     "--deliveries", str(DATA / "deliveries.csv"), "--out", str(tmp_path / "out"),
                     "--quiet", "--no-pdf"]) == 0
    assert "FORTNIGHT STATEMENT" in (tmp_path / "out" / "statements" / "p001.txt").read_text()
    no_locale.delenv("LANG")
    assert hub_main(["payments", "--period", "2026-11-1", "--pricing", str(DATA / "pricing.toml"),
                     "--deliveries", str(DATA / "deliveries.csv"), "--out", str(tmp_path / "out"),
                     "--quiet", "--no-pdf"]) == 0
    assert "LIQUIDACIÓN QUINCENAL" in (tmp_path / "out" / "statements" / "p001.txt").read_text()
