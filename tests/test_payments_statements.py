"""Statement outputs: statements.csv (contracts.md), the console table, printable statements."""

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from hub.payments import statements
from hub.payments.engine import compute_fortnight
from hub.payments.errors import PaymentsError
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing
from hub.payments.records import read_advances_csv, read_deliveries_csv
from hub.payments.statements import (
    STATEMENT_COLUMNS,
    render_producer_statement,
    render_table,
    write_outputs,
    write_statements_csv,
)

DATA = Path(__file__).parent / "data" / "payments"
# What every run writes (without PDFs): the PDFs and the locale copy are optional.
ALWAYS = ["lines.csv", "statements", "statements.csv", "statements.txt", "warnings.txt"]


@pytest.fixture(scope="module")
def fortnight():
    # Hand-computed in test_payments_engine.test_example_files_hand_computed.
    return compute_fortnight(
        Period(2026, 11, 1),
        read_deliveries_csv(DATA / "deliveries.csv"),
        load_pricing(DATA / "pricing.toml"),
        read_advances_csv(DATA / "advances.csv"),
    )


EXPECTED_CSV = """\
period,producer,deliveries,rejected,liters,avg_solids_pct,gross,fees,deductions,carried_over,net
2026-11-1,p001,3,0,65.90,11.53,67.52,1.32,25.01,0.00,41.19
2026-11-1,p002,1,1,0.00,,0.00,0.00,0.00,15.00,0.00
2026-11-1,p003,1,0,40.25,12.08,43.47,0.81,0.00,0.00,42.66
2026-11-1,p004,0,0,0.00,,0.00,0.00,0.00,7.50,0.00
2026-11-1,TOTAL,5,1,106.15,11.74,110.99,2.13,25.01,22.50,83.85
"""


def test_statements_csv(tmp_path, fortnight):
    path = tmp_path / "statements.csv"
    write_statements_csv(path, fortnight)
    assert path.read_text() == EXPECTED_CSV
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == STATEMENT_COLUMNS
    # The TOTAL row foots as printed.
    *producers, total = rows
    for column in ("gross", "fees", "deductions", "carried_over", "net"):
        assert sum(Decimal(row[column]) for row in producers) == Decimal(total[column])
    assert Decimal(total["net"]) == Decimal(total["gross"]) - Decimal(total["fees"]) - Decimal(total["deductions"])


def test_console_table_is_aligned_and_ends_with_total(fortnight):
    table = render_table(fortnight)
    lines = table.splitlines()
    assert lines[0] == "Quincena 2026-11-1: del 01/11/2026 al 15/11/2026, importes en PEN"
    header = next(line for line in lines if line.startswith("Productor"))
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total.split() == ["TOTAL", "5", "1", "106.15", "11.74", "110.99", "2.13", "25.01", "22.50", "83.85"]
    assert len(header) == len(total)  # numbers right-aligned under their headings
    assert "2 entrega(s) fuera de la quincena" in table
    assert "Producer" in render_table(fortnight, lang="en")


def test_producer_statement_in_spanish(fortnight):
    text = render_producer_statement(fortnight, "p001")
    assert "LIQUIDACIÓN QUINCENAL 2026-11-1" in text
    assert "Del 01/11/2026 al 15/11/2026" in text
    assert "Productor: p001" in text
    # One line per delivery: local date and time, litres, TS as priced, price/L, value to the cent,
    # the price's arithmetic (10.50 × 1.015 = 10.6575 -> 10.66; 25.40 × 1.04 = 26.416 -> 26.42).
    assert "15/11/2026  23:59   10.50  11.45     1.015  10.66  1.03 - 1×0.015" in text
    assert "01/11/2026  06:10   25.40  11.62      1.04  26.42  1.03 + 1×0.01" in text
    # 26.42 + 30.45 + 10.66 = 67.53, the gross is 67.5175 rounded once: the rounding line says so.
    assert any(line.startswith("Suma de las entregas") and line.endswith("67.53") for line in text.splitlines())
    assert any(line.startswith("Redondeo del bruto") and line.endswith("-0.01") for line in text.splitlines())
    assert "alimento, cuota 2 de 2 (desde 2026-10-2)" in text
    last = text.splitlines()
    assert any(line.startswith("Bruto (PEN)") and line.endswith("67.52") for line in last)
    assert any(line.startswith("(-) Aporte") and line.endswith("1.32") for line in last)
    assert any(line.startswith("(-) Descuentos") and line.endswith("25.01") for line in last)
    assert any(line.startswith("(=) Neto a pagar") and line.endswith("41.19") for line in last)


def test_rejected_and_carried_over_in_both_languages(fortnight):
    spanish = render_producer_statement(fortnight, "p002")
    assert "rechazada: acidez" in spanish
    assert any(line.startswith("Saldo pendiente") and line.endswith("15.00") for line in spanish.splitlines())
    english = render_producer_statement(fortnight, "p002", lang="en")
    assert "FORTNIGHT STATEMENT 2026-11-1" in english
    assert "rejected: acidez" in english
    assert any(line.startswith("Balance carried over") and line.endswith("15.00") for line in english.splitlines())
    assert "Sin entregas" in render_producer_statement(fortnight, "p004")


def test_languages_share_every_text():
    from milk_common.i18n import catalog, check_catalogs

    assert catalog("payments", "es").keys() == catalog("payments", "en").keys()
    assert not [problem for problem in check_catalogs() if "payments.po" in problem]
    with pytest.raises(PaymentsError, match="language 'fr'"):
        render_table(None, lang="fr")


def test_pdf_statements_are_written_with_the_text_ones(tmp_path, fortnight):
    pytest.importorskip("fpdf")
    from hub.payments.report import write_statements

    out = tmp_path / "out"
    write_statements(out, fortnight, pdf=True)
    assert sorted(p.name for p in (out / "statements").iterdir()) == [
        f"p00{n}.{ext}" for n in range(1, 5) for ext in ("pdf", "txt")]
    assert (out / "statements.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "statements" / "p003.pdf").read_bytes().startswith(b"%PDF")
    # Without PDFs a second run removes them: never a mixed set.
    assert (out / "planilla.pdf").read_bytes().startswith(b"%PDF")
    write_statements(out, fortnight)
    assert sorted(p.name for p in out.iterdir()) == ALWAYS
    assert not list((out / "statements").glob("*.pdf"))


def test_write_outputs(tmp_path, fortnight):
    out = tmp_path / "out"
    write_outputs(out, fortnight)
    assert (out / "statements.csv").read_text() == EXPECTED_CSV
    assert (out / "statements.txt").read_text() == render_table(fortnight)
    assert sorted(p.name for p in (out / "statements").iterdir()) == ["p001.txt", "p002.txt", "p003.txt", "p004.txt"]
    assert (out / "statements" / "p003.txt").read_text() == render_producer_statement(fortnight, "p003")
    assert sorted(p.name for p in out.iterdir()) == ALWAYS

    # A second run replaces everything, including pages of producers no longer present.
    (out / "statements" / "p999.txt").write_text("stale")
    write_outputs(out, fortnight, lang="en")
    assert sorted(p.name for p in (out / "statements").iterdir()) == ["p001.txt", "p002.txt", "p003.txt", "p004.txt"]
    assert "FORTNIGHT STATEMENT" in (out / "statements" / "p001.txt").read_text()
    assert sorted(p.name for p in out.iterdir()) == ALWAYS


def test_a_failure_leaves_the_previous_outputs_untouched(tmp_path, fortnight, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "statements.csv").write_text("old csv")
    (out / "statements").mkdir()
    (out / "statements" / "p001.txt").write_text("old p001")

    real = statements.render_producer_statement

    def fail_on_p003(fortnight, producer, lang="es", **names):
        if producer == "p003":
            raise RuntimeError("printer on fire")
        return real(fortnight, producer, lang, **names)

    monkeypatch.setattr(statements, "render_producer_statement", fail_on_p003)
    with pytest.raises(RuntimeError):
        write_outputs(out, fortnight)
    assert (out / "statements.csv").read_text() == "old csv"
    assert [p.name for p in (out / "statements").iterdir()] == ["p001.txt"]
    assert (out / "statements" / "p001.txt").read_text() == "old p001"
    assert sorted(p.name for p in out.iterdir()) == ["statements", "statements.csv"]  # no staging left


def test_failure_while_moving_into_place_restores_the_previous_outputs(tmp_path, fortnight, monkeypatch):
    out = tmp_path / "out"
    (out / "statements").mkdir(parents=True)
    (out / "statements" / "p001.txt").write_text("old p001")
    (out / "statements.txt").write_text("old table")
    (out / "statements.csv").write_text("old csv")
    real_rename = statements.os.rename
    failed = []

    def fail_on_the_csv(source, target):
        # The last step, once: the old outputs are set aside, the new pages and table in place.
        if Path(target) == out / "statements.csv" and Path(source).parent.name == "new" and not failed:
            failed.append(source)
            raise OSError(5, "Input/output error")
        real_rename(source, target)

    monkeypatch.setattr(statements.os, "rename", fail_on_the_csv)
    with pytest.raises(PaymentsError, match="Input/output error"):
        write_outputs(out, fortnight)
    assert failed
    assert (out / "statements.csv").read_text() == "old csv"
    assert (out / "statements.txt").read_text() == "old table"
    assert [p.name for p in (out / "statements").iterdir()] == ["p001.txt"]
    assert (out / "statements" / "p001.txt").read_text() == "old p001"
    assert sorted(p.name for p in out.iterdir()) == ["statements", "statements.csv", "statements.txt"]


def test_producer_ids_that_are_not_file_names_are_refused(fortnight):
    assert statements._statement_file_name("p001") == "p001.txt"
    for bad in ("../etc/passwd", ".hidden", "a/b"):
        with pytest.raises(PaymentsError, match="file name"):
            statements._statement_file_name(bad)


def test_station_reject_codes_in_the_producers_words():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hub.payments.records import Delivery
    ts = datetime(2026, 11, 3, 6, 0, tzinfo=ZoneInfo("America/Lima"))
    fortnight = compute_fortnight(Period(2026, 11, 1), [
        Delivery(id="r1", producer="p1", ts=ts, liters=Decimal("0"), solids_pct=None, accepted=False,
                 reject_reason="alcohol_positive")], load_pricing(DATA / "pricing.toml"))
    assert "prueba de alcohol positiva" in render_producer_statement(fortnight, "p1", "es")
    assert "alcohol test positive" in render_producer_statement(fortnight, "p1", "en")
