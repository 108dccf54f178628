"""What producers and the treasurer read: names, the price explained (lines.csv, the rule, the
statements' lines adding up), the pay sheet, the locale CSV, and the statements agreeing with
statements.csv in text and in PDF (payments.md, docs/payments.md)."""

import csv
import io
import re
import zlib
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest

from hub.cli import main
from hub.payments.engine import compute_fortnight
from hub.payments.explain import LINE_COLUMNS, price_detail, price_parts, rule_sentence
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing, pricing_from_dict
from hub.payments.records import Delivery, read_deliveries_csv

DATA = Path(__file__).parent / "data" / "payments"
# statements.csv of the example files as it has always been (test_payments_statements.py hand-checks it).
EXPECTED_CSV = """\
period,producer,deliveries,rejected,liters,avg_solids_pct,gross,fees,deductions,carried_over,net
2026-11-1,p001,3,0,65.90,11.53,67.52,1.32,25.01,0.00,41.19
2026-11-1,p002,1,1,0.00,,0.00,0.00,0.00,15.00,0.00
2026-11-1,p003,1,0,40.25,12.08,43.47,0.81,0.00,0.00,42.66
2026-11-1,p004,0,0,0.00,,0.00,0.00,0.00,7.50,0.00
2026-11-1,TOTAL,5,1,106.15,11.74,110.99,2.13,25.01,22.50,83.85
"""
EXPLAINED = DATA / "pricing-explained.toml"  # the example with an association, a chilled bonus and [limits]
NAMES = {"p001": "Juana Quispe Mamani", "p002": "Teodoro Condori", "p003": "María Elena Flores Choque",
         "p004": "Asociación de Riego Laredo"}


def run_payments(out, *extra, pricing=EXPLAINED, deliveries=DATA / "deliveries.csv"):
    return main(["payments", "--period", "2026-11-1", "--pricing", str(pricing), "--deliveries", str(deliveries),
                 "--advances", str(DATA / "advances.csv"), "--out", str(out), "--quiet", *extra])


def read_csv(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file, delimiter=delimiter))


def pdf_lines(data: bytes) -> list[str]:
    """The text of an fpdf2 PDF, one line per baseline (cells left to right), page after page.

    Standard library only: fpdf2 writes each page's content as one zlib stream in which
    every piece of text is ``BT x y Td [colour] (text) Tj ET`` in Latin-1 with \\( \\) \\\\ escapes.
    """
    lines: list[str] = []
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            content = zlib.decompress(stream.group(1))
        except zlib.error:
            continue  # not a page (a font or an image)
        cells: dict[float, list[tuple[float, str]]] = {}
        for x, y, raw in re.findall(rb"([\d.]+) ([\d.]+) Td (?:[^(]*? )?\(((?:\\.|[^\\)])*)\) Tj", content):
            text = re.sub(rb"\\(.)", rb"\1", raw).decode("latin-1")
            cells.setdefault(round(float(y), 1), []).append((float(x), text))
        for y in sorted(cells, reverse=True):
            lines.append(" ".join(text.strip() for _, text in sorted(cells[y]) if text.strip()))
    return lines


def amount_after(lines: list[str], label: str) -> str:
    """The last number on the first line that starts with ``label``."""
    line = next(line for line in lines if line.startswith(label))
    return line.split()[-1]


# --- the price's parts, hand-computed ---------------------------------------------------------

PRICING = pricing_from_dict({
    "price": {"base_per_liter": "1.03", "bonus_per_tenth": "0.01", "penalty_per_tenth": "0.015",
              "chilled_bonus_per_liter": "0.05", "chilled_max_temp_c": "8"},
})


def one_line(solids, temp, liters="10.00"):
    from datetime import datetime
    delivery = Delivery("d1", "p1", datetime(2026, 11, 3, 11, 0, tzinfo=UTC), Decimal(liters),
                        Decimal(solids), True, milk_temp_c=Decimal(temp))
    fortnight = compute_fortnight(Period(2026, 11, 1), [delivery], PRICING)
    return fortnight.rows[0].lines[0]


@pytest.mark.parametrize("solids, temp, tenths, solids_per_liter, chilled, price, value, detail", [
    # 11.68 - 11.5 = 0.18: one complete tenth above -> 1.03 + 0.01 = 1.04; not chilled (9 °C > 8)
    ("11.68", "9", 1, "0.01", "0", "1.04", "10.4000", "1.03 + 1×0.01"),
    # at the reference: base only; chilled at exactly 8 °C -> + 0.05 = 1.08
    ("11.50", "8", 0, "0", "0.05", "1.08", "10.8000", "1.03 + 0.05"),
    # 11.5 - 11.33 = 0.17: two started tenths below -> 1.03 - 2 × 0.015 = 1.00; chilled -> 1.05
    ("11.33", "4", -2, "-0.030", "0.05", "1.05", "10.5000", "1.03 - 2×0.015 + 0.05"),
    # 11.444 is priced as 11.44 (receipt rounding): one started tenth below -> 1.015
    ("11.444", "20", -1, "-0.015", "0", "1.015", "10.15000", "1.03 - 1×0.015"),
])
def test_price_parts_above_at_and_below_the_reference_and_chilled(solids, temp, tenths, solids_per_liter,
                                                                 chilled, price, value, detail):
    line = one_line(solids, temp)
    parts = price_parts(PRICING, line)
    assert parts.base_per_liter == Decimal("1.03")
    assert parts.solids_tenths == tenths
    assert parts.solids_per_liter == Decimal(solids_per_liter)
    assert parts.chilled_per_liter == Decimal(chilled)
    assert line.price_per_liter == Decimal(price)
    assert parts.base_per_liter + parts.solids_per_liter + parts.chilled_per_liter == line.price_per_liter
    assert line.value == Decimal(value)
    assert price_detail(PRICING, line) == detail


def test_the_rule_in_one_sentence_from_the_pricing_file():
    assert rule_sentence(load_pricing(EXPLAINED), "es") == (
        "Precio base 1.03; +0.01 por cada décima de ST sobre 11.5 %; -0.015 por cada décima bajo 11.5 %; "
        "+0.05 por litro si llegó fría (≤ 8 °C)")
    # No chilled bonus in the plain example: no such clause.
    assert rule_sentence(load_pricing(DATA / "pricing.toml"), "en") == (
        "Base price 1.03; +0.01 per complete tenth of TS above 11.5 %; -0.015 per started tenth below 11.5 %")


# --- lines.csv ------------------------------------------------------------------------------

def test_lines_csv_has_every_delivery_and_sums_to_the_gross(tmp_path):
    assert run_payments(tmp_path / "out", "--lang", "es") == 0
    lines = read_csv(tmp_path / "out" / "lines.csv")
    assert tuple(lines[0]) == LINE_COLUMNS
    # Every delivery of the period, rejected ones at 0; d005 and d007 are outside it.
    assert [row["id"] for row in lines] == ["d001", "d002", "d003", "d004", "d006"]
    rejected = next(row for row in lines if row["id"] == "d004")
    assert (rejected["accepted"], rejected["value"], rejected["value_exact"], rejected["price_per_liter"]) == \
        ("false", "0.00", "0.00000", "0")
    first = next(row for row in lines if row["id"] == "d001")
    # 25.40 L at TS 11.62 (one tenth above) chilled (7.5 °C): 1.03 + 0.01 + 0.05 = 1.09 -> 27.686
    assert (first["base_per_liter"], first["solids_tenths"], first["solids_per_liter"], first["chilled_per_liter"],
            first["price_per_liter"], first["value_exact"], first["value"]) == \
        ("1.03", "1", "0.01", "0.05", "1.09", "27.68600", "27.69")
    statements = {row["producer"]: row for row in read_csv(tmp_path / "out" / "statements.csv")}
    for producer in ("p001", "p002", "p003"):
        exact = sum(Decimal(row["value_exact"]) for row in lines if row["producer"] == producer)
        gross = Decimal(statements[producer]["gross"])
        assert exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP") == gross
    # p001: 27.686 + 30.45 + 10.6575 = 68.7935 -> 68.79, while the cents of the lines add to 68.80:
    # rounding once is not the sum of the rounded lines.
    p001 = [row for row in lines if row["producer"] == "p001"]
    assert sum(Decimal(row["value_exact"]) for row in p001) == Decimal("68.7935")
    assert sum(Decimal(row["value"]) for row in p001) == Decimal("68.80")
    assert statements["p001"]["gross"] == "68.79"


def test_receipt_codes_pass_from_the_deliveries_csv_to_lines_and_statements(tmp_path):
    text = (DATA / "deliveries.csv").read_text().splitlines()
    rows = [text[0] + ",receipt_code"] + [line + (",K7Q2-MX4P" if line.startswith("d001,") else ",")
                                           for line in text[1:]]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    assert read_deliveries_csv(tmp_path / "d.csv")[0].receipt_code == "K7Q2-MX4P"
    assert run_payments(tmp_path / "out", "--lang", "es", deliveries=tmp_path / "d.csv") == 0
    lines = {row["id"]: row for row in read_csv(tmp_path / "out" / "lines.csv")}
    assert lines["d001"]["receipt_code"] == "K7Q2-MX4P" and lines["d002"]["receipt_code"] == ""
    assert "K7Q2-MX4P" in (tmp_path / "out" / "statements" / "p001.txt").read_text()
    assert any("K7Q2-MX4P" in line for line in pdf_lines((tmp_path / "out" / "statements" / "p001.pdf").read_bytes()))


# --- names ----------------------------------------------------------------------------------

def test_names_come_after_the_contract_columns_and_only_with_the_registry(tmp_path):
    assert run_payments(tmp_path / "plain", "--lang", "es", pricing=DATA / "pricing.toml") == 0
    assert (tmp_path / "plain" / "statements.csv").read_text() == EXPECTED_CSV  # exactly as without names
    assert run_payments(tmp_path / "named", "--lang", "es", "--producers", str(DATA / "producers.csv"),
                        pricing=DATA / "pricing.toml") == 0
    named = (tmp_path / "named" / "statements.csv").read_text().splitlines()
    plain = EXPECTED_CSV.splitlines()
    assert named[0] == plain[0] + ",name"
    for named_row, plain_row in zip(named[1:], plain[1:]):
        assert named_row.startswith(plain_row + ",")
    rows = read_csv(tmp_path / "named" / "statements.csv")
    assert {row["producer"]: row["name"] for row in rows} == {**NAMES, "TOTAL": ""}
    out = tmp_path / "named"
    assert "Productor: p003 - María Elena Flores Choque" in (out / "statements" / "p003.txt").read_text()
    assert "Productor: p003 - María Elena Flores Choque" in pdf_lines((out / "statements" / "p003.pdf").read_bytes())
    assert "Juana Quispe Mamani" in (out / "statements.txt").read_text()
    assert any("Juana Quispe Mamani" in line for line in pdf_lines((out / "statements.pdf").read_bytes()))
    assert {row["name"] for row in read_csv(out / "lines.csv")} == {"Juana Quispe Mamani", "Teodoro Condori",
                                                                      "María Elena Flores Choque"}


def test_a_bad_registry_is_one_line_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "producers.csv").write_text("code,name\np001,Juana\np001,Otra\n")
    assert run_payments(tmp_path / "out", "--lang", "es", "--producers", str(tmp_path / "producers.csv")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "producers.csv" in err and "fila 3" in err
    assert not (tmp_path / "out").exists()


# --- the statements agree with statements.csv and add up -------------------------------------

MONEY_LABELS = {  # statements.csv column -> how the statements (Spanish) begin the line
    "gross": "Bruto (PEN)", "fees": "(-) Aporte", "deductions": "(-) Descuentos", "net": "(=) Neto a pagar",
}
TOO_EXACT = re.compile(r"(?<![\d.])\d+\.\d{4,}(?![\d.])")  # 15.23515: not for people


def test_text_and_pdf_statements_agree_with_statements_csv_and_add_up(tmp_path):
    out = tmp_path / "out"
    assert run_payments(out, "--lang", "es", "--producers", str(DATA / "producers.csv")) == 0
    rows = read_csv(out / "statements.csv")
    for row in rows[:-1]:
        producer = row["producer"]
        text_lines = (out / "statements" / f"{producer}.txt").read_text().splitlines()
        pdf = pdf_lines((out / "statements" / f"{producer}.pdf").read_bytes())
        for lines in (text_lines, pdf):
            for column, label in MONEY_LABELS.items():
                assert amount_after(lines, label) == row[column], (producer, column)
            if Decimal(row["carried_over"]):
                assert amount_after(lines, "Saldo pendiente (pasa") == row["carried_over"]
            # The money lines from the deliveries to the gross add up as printed.
            start = next(i for i, line in enumerate(lines) if line.startswith("Suma de las entregas"))
            end = next(i for i, line in enumerate(lines) if line.startswith("Bruto (PEN)"))
            assert sum(Decimal(line.split()[-1]) for line in lines[start:end]) == Decimal(row["gross"])
            assert not [line for line in lines if TOO_EXACT.search(line)], producer
        # The text and the PDF list the same deliveries with the same cells.
        dated = [line.split() for line in text_lines if re.match(r"\d\d/\d\d/\d{4} ", line)]
        assert dated == [line.split() for line in pdf if re.match(r"\d\d/\d\d/\d{4} ", line)]
    # Their delivery values are lines.csv's, to the cent.
    p001 = (out / "statements" / "p001.txt").read_text()
    for line in read_csv(out / "lines.csv"):
        if line["producer"] == "p001":
            assert f"  {line['value']}  " in p001
    for name in ("statements.txt",):
        assert not TOO_EXACT.search((out / name).read_text())


def test_a_late_delivery_is_on_the_text_statement_as_on_the_pdf(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    deliveries = tmp_path / "d.csv"
    deliveries.write_text((DATA / "deliveries.csv").read_text())
    common = ["--pricing", str(EXPLAINED), "--deliveries", str(deliveries), "--ledger", str(ledger), "--quiet",
              "--lang", "es"]
    assert main(["payments", "--period", "2026-11-1", "--out", str(tmp_path / "o1"), "--close", *common]) == 0
    # A delivery of the closed fortnight arrives late: 12.345 L at TS 12.31 (8 tenths), chilled:
    # 12.345 × (1.03 + 0.08 + 0.05) = 14.3202 -> 14.32; and one of the new period: 20 × 1.11 = 22.20.
    with open(deliveries, "a") as file:
        file.write("d100,p001,2026-11-10T07:00:00-05:00,12.345,12.31,true,5,laredo,bench1,,,\n"
                   "d101,p001,2026-11-20T07:00:00-05:00,20.00,11.80,true,5,laredo,bench1,,,\n")
    assert main(["payments", "--period", "2026-11-2", "--out", str(tmp_path / "o2"), *common]) == 0
    out = tmp_path / "o2"
    row = next(r for r in read_csv(out / "statements.csv") if r["producer"] == "p001")
    assert row["gross"] == "36.52"
    text_lines = (out / "statements" / "p001.txt").read_text().splitlines()
    pdf = pdf_lines((out / "statements" / "p001.pdf").read_bytes())
    for lines in (text_lines, pdf):
        adjustment = next(line for line in lines if line.startswith("Ajuste: entrega d100"))
        assert adjustment.split()[-1] == "14.32" and "tardía" in adjustment
        assert amount_after(lines, "Suma de las entregas") == "22.20"
        assert amount_after(lines, "Bruto (PEN)") == "36.52"  # 22.20 + 14.32
    late = next(r for r in read_csv(out / "lines.csv") if r["id"] == "d100")
    assert (late["adjustment"], late["value_exact"], late["value"]) == ("late", "14.32020", "14.32")
    exact = sum(Decimal(r["value_exact"]) for r in read_csv(out / "lines.csv") if r["producer"] == "p001")
    assert exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP") == Decimal(row["gross"])


# --- the pay sheet --------------------------------------------------------------------------

def test_planilla_has_a_row_per_producer_the_totals_and_the_association(tmp_path):
    out = tmp_path / "out"
    assert run_payments(out, "--lang", "es", "--producers", str(DATA / "producers.csv")) == 0
    lines = pdf_lines((out / "planilla.pdf").read_bytes())
    assert lines[0] == "Asociación de Productores de Leche Laredo"
    assert "PLANILLA DE PAGOS" in lines
    assert any(line.startswith("Quincena 2026-11-1: del 01/11/2026 al 15/11/2026") for line in lines)
    rows = read_csv(out / "statements.csv")
    for number, row in enumerate(rows[:-1], start=1):
        assert f"{number} {row['producer']} {NAMES[row['producer']]} {row['liters']} {row['net']}" in lines
    total = rows[-1]
    assert f"TOTAL (4 productores) {total['liters']} {total['net']}" in lines
    assert "Firma" in " ".join(lines)


# --- --csv-locale ---------------------------------------------------------------------------

def test_csv_locale_bolivia_decimal_comma_and_semicolons(tmp_path):
    out = tmp_path / "out"
    assert run_payments(out, "--lang", "es", "--csv-locale", "es_BO") == 0
    plain = read_csv(out / "statements.csv")
    bolivia_text = (out / "statements-es_BO.csv").read_text()
    dialect = csv.Sniffer().sniff(bolivia_text.splitlines()[0])
    assert dialect.delimiter == ";"
    bolivia = list(csv.DictReader(io.StringIO(bolivia_text), delimiter=";"))
    assert bolivia[0]["gross"] == "68,79" and bolivia[-1]["liters"] == "106,15"
    for local, row in zip(bolivia, plain):
        for column in ("liters", "gross", "fees", "deductions", "carried_over", "net"):
            assert Decimal(local[column].replace(",", ".")) == Decimal(row[column])
        assert local["period"] == row["period"] and local["deliveries"] == row["deliveries"]
    # statements.csv and lines.csv keep their format.
    assert "," in (out / "statements.csv").read_text().splitlines()[0]
    assert "68.79" in (out / "statements.csv").read_text()


def test_csv_locale_peru_decimal_points(tmp_path):
    out = tmp_path / "out"
    assert run_payments(out, "--lang", "es", "--csv-locale", "es_PE") == 0
    peru = read_csv(out / "statements-es_PE.csv")
    assert peru == read_csv(out / "statements.csv")
    assert peru[0]["gross"] == "68.79"


def test_a_bad_locale_is_one_spanish_line_and_nothing_is_written(tmp_path, capsys):
    assert run_payments(tmp_path / "out", "--lang", "es", "--csv-locale", "xx_YY") == 2
    err = capsys.readouterr().err
    assert err.strip() == "milk-hub: --csv-locale 'xx_YY': configuración regional desconocida (por ejemplo es_BO, es_PE)"
    assert not (tmp_path / "out").exists()
    # A later run without the option removes the locale copy of an earlier one.
    assert run_payments(tmp_path / "out", "--lang", "es", "--csv-locale", "es_BO") == 0
    assert run_payments(tmp_path / "out", "--lang", "es") == 0
    assert not (tmp_path / "out" / "statements-es_BO.csv").exists()


def test_lines_csv_per_kg_of_solids_gives_the_effective_price_per_litre(tmp_path):
    # 30.90 kg at TS 11.49 % -> 3.55041 kg of solids × 9.00 = 31.95369 for 30.00 L:
    # 1.0651230 per litre -> 1.0651 (4 decimals); the rate is per kg of solids.
    (tmp_path / "pricing.toml").write_text('[price]\nscheme = "per_kg_solids"\nprice_per_kg_solids = "9.00"\n')
    (tmp_path / "d.csv").write_text("id,producer,ts,liters,solids_pct,accepted,weight_kg\n"
                                    "d1,p1,2026-11-02T06:00:00-05:00,30.00,11.49,true,30.90\n")
    assert main(["payments", "--period", "2026-11-1", "--pricing", str(tmp_path / "pricing.toml"),
                 "--deliveries", str(tmp_path / "d.csv"), "--out", str(tmp_path / "out"), "--quiet",
                 "--no-pdf", "--lang", "es"]) == 0
    (line,) = read_csv(tmp_path / "out" / "lines.csv")
    assert (line["unit"], line["quantity"], line["rate_per_unit"]) == ("kg_solids", "3.550410", "9.00")
    assert (line["value_exact"], line["value"], line["price_per_liter"]) == ("31.95369000", "31.95", "1.0651")
    assert line["base_per_liter"] == line["solids_tenths"] == ""
    text = (tmp_path / "out" / "statements" / "p1.txt").read_text()
    assert "Precio: 9.00 por kg de sólidos totales" in text and "3.55 kg ST × 9.00" in text
