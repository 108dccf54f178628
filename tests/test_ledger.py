"""Closing periods in the ledger (`milk-hub payments --ledger FILE --close`)."""

import csv
import sqlite3
from pathlib import Path

import pytest

from hub.cli import main

DATA = Path(__file__).parent / "data" / "payments"
HEADER = "id,producer,ts,liters,solids_pct,accepted\n"


def run(tmp_path, period, deliveries, *extra, advances=None, out="out"):
    (tmp_path / f"d-{period}.csv").write_text(HEADER + deliveries)
    argv = ["payments", "--period", period, "--deliveries", str(tmp_path / f"d-{period}.csv"),
            "--pricing", str(DATA / "pricing.toml"), "--out", str(tmp_path / out), "--quiet", "--no-pdf",
            "--ledger", str(tmp_path / "ledger.sqlite"), "--lang", "es", *extra]
    if advances:
        (tmp_path / "adv.csv").write_text("producer,kind,amount,installments,first_period\n" + advances)
        argv += ["--advances", str(tmp_path / "adv.csv")]
    code = main(argv)
    rows = {r["producer"]: r for r in csv.DictReader((tmp_path / out / "statements.csv").open())} if code == 0 else {}
    return code, rows


NOV1 = "d1,p1,2026-11-02T06:00:00-05:00,100,11.50,true\n"  # 100 * 1.03 = 103.00, fees 2.00
NOV2 = "d2,p1,2026-11-17T06:00:00-05:00,10,11.50,true\n"  # 10.30, fees 0.20
LATE = "d9,p1,2026-11-15T23:59:00-05:00,20,11.60,true\n"  # 20 * 1.04 = 20.80, fees 0.40


def test_close_carry_over_second_installment_and_late_delivery(tmp_path, capsys):
    # Advance 201.01 in 2 (first 2026-11-1): 100.50 now, 100.51 next.
    # 2026-11-1: gross 103.00, fees 2.00, room 101.00 -> deduct 100.50, net 0.50.
    code, rows = run(tmp_path, "2026-11-1", NOV1, "--close", advances="p1,feed,201.01,2,2026-11-1\n")
    assert code == 0
    frozen = (tmp_path / "out" / "statements.csv").read_text()
    assert (rows["p1"]["deductions"], rows["p1"]["net"]) == ("100.50", "0.50")

    # The same period again with a late delivery and no advances file: the frozen statements.
    code, rows = run(tmp_path, "2026-11-1", NOV1 + LATE, out="again")
    assert code == 0 and (tmp_path / "again" / "statements.csv").read_text() == frozen
    assert "se cerró el" in capsys.readouterr().err

    # 2026-11-2 without the advances file: the second installment (100.51) comes from the ledger.
    # The late delivery d9 (15th 23:59 Lima, closed period) is an adjustment here:
    # gross = 10.30 + 20.80 = 31.10; fees = (10 + 20) * 0.02 = 0.60; room 30.50
    # due 100.51 -> deduct 30.50, carry over 70.01, net 0.
    code, rows = run(tmp_path, "2026-11-2", NOV2 + LATE + NOV1, "--close")
    assert code == 0
    p1 = rows["p1"]
    assert (p1["deliveries"], p1["liters"], p1["gross"], p1["fees"]) == ("1", "10.00", "31.10", "0.60")
    assert (p1["deductions"], p1["carried_over"], p1["net"]) == ("30.50", "70.01", "0.00")

    # 2026-12-1: carry-in 70.01 from the ledger; the late delivery is paid, not again.
    # 50 L * 1.03 = 51.50, fees 1.00 -> deduct 50.50, carry 19.51.
    code, rows = run(tmp_path, "2026-12-1", LATE + NOV2 + "d3,p1,2026-12-03T06:00:00-05:00,50,11.50,true\n")
    assert code == 0
    assert (rows["p1"]["gross"], rows["p1"]["deductions"], rows["p1"]["carried_over"]) == ("51.50", "50.50", "19.51")


def test_a_corrected_delivery_is_the_difference(tmp_path):
    assert run(tmp_path, "2026-11-1", NOV1, "--close")[0] == 0
    # d1 corrected from 100 L to 90 L: -10 L * 1.03 = -10.30, fees -0.20 in the next period.
    corrected = NOV1.replace(",100,", ",90,")
    code, rows = run(tmp_path, "2026-11-2", NOV2 + corrected)
    assert (rows["p1"]["gross"], rows["p1"]["fees"]) == ("0.00", "0.00")  # 10.30 - 10.30, 0.20 - 0.20


def test_closing_order_and_frozen_tables(tmp_path, capsys):
    assert run(tmp_path, "2026-11-1", NOV1, "--close")[0] == 0
    assert run(tmp_path, "2026-12-1", "", "--close")[0] == 2
    assert "cierre la quincena 2026-11-2 antes de 2026-12-1" in capsys.readouterr().err
    assert run(tmp_path, "2026-11-1", NOV1, "--close")[0] == 2
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="frozen"):
        db.execute("UPDATE closed_row SET net = '999'")
    # Tampering behind the triggers' back is caught by the checksum.
    db.execute("DROP TRIGGER closed_period_no_update")
    db.execute("UPDATE closed_period SET statements_csv = replace(statements_csv, '101.00', '999.00')")
    db.commit()
    assert run(tmp_path, "2026-11-1", NOV1, out="x")[0] == 2
    assert "la suma de control no coincide, el libro fue alterado" in capsys.readouterr().err


def test_without_ledger_nothing_changes(tmp_path):
    out = tmp_path / "out"
    argv = ["payments", "--period", "2026-11-1", "--deliveries", str(DATA / "deliveries.csv"), "--pricing",
            str(DATA / "pricing.toml"), "--advances", str(DATA / "advances.csv"), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert (out / "statements.csv").read_text().splitlines()[-1] == (
        "2026-11-1,TOTAL,5,1,106.15,11.74,110.99,2.13,25.01,22.50,83.85")
