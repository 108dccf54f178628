"""`milk-hub reconcile`: center vs buyer (payments.md, "Reconciliation with the buyer")."""

from pathlib import Path

from hub.cli import main

DATA = Path(__file__).parent / "data" / "payments"


def reconcile(tmp_path, buyer_rows, *extra):
    (tmp_path / "buyer.csv").write_text("period,liters,avg_solids_pct,amount\n" + buyer_rows)
    return main(["reconcile", "--period", "2026-11-1", "--buyer", str(tmp_path / "buyer.csv"),
                 "--pricing", str(DATA / "pricing.toml"), "--deliveries", str(DATA / "deliveries.csv"),
                 "--out", str(tmp_path / "out"), *extra])


def test_shrinkage_solids_and_margin_hand_computed(tmp_path, capsys):
    # Center (example files): 106.15 L, TS 11.74 %, gross 110.99. Every difference is center - buyer.
    # Buyer: 104.00 L -> shrinkage 2.15 L = 2.15 / 106.15 = 2.0254...% -> 2.03 % > 1 %: flagged.
    # TS 11.74 - 11.60 = 0.14; amount 110.99 - 125.00 = -14.01 (the margin is 14.01),
    # -14.01 / 110.99 = -12.6227...% -> -12.62.
    assert reconcile(tmp_path, "2026-10-2,1,11,1\n2026-11-1,104.00,11.60,125.00\n", "--lang", "es") == 0
    lines = (tmp_path / "out" / "reconciliation.csv").read_text().splitlines()
    assert lines == [
        "period,measure,center,buyer,difference,difference_pct,flag",
        "2026-11-1,liters,106.15,104.00,2.15,2.03,SHRINKAGE",
        "2026-11-1,avg_solids_pct,11.74,11.60,0.14,,",
        "2026-11-1,amount,110.99,125.00,-14.01,-12.62,",
    ]
    out = capsys.readouterr().out
    assert "ALERTA: merma 2.03 %" in out
    assert "Diferencia = centro - comprador" in out
    assert (tmp_path / "out" / "reconciliation.pdf").read_bytes().startswith(b"%PDF")


def test_a_buyer_claiming_more_litres_than_collected_is_flagged(tmp_path, capsys):
    # 106.15 - 110.00 = -3.85 L (center - buyer), -3.85 / 106.15 = -3.6269...% -> -3.63.
    assert reconcile(tmp_path, "2026-11-1,110.00,11.60,100.00\n", "--lang", "es",
                     "--producers", str(DATA / "producers.csv")) == 0
    lines = (tmp_path / "out" / "reconciliation.csv").read_text().splitlines()
    assert lines[1] == "2026-11-1,liters,106.15,110.00,-3.85,-3.63,BUYER_EXCESS"
    # The buyer paid 100.00 for milk the producers were paid 110.99 for: 10.99 = 9.90 % of the gross.
    assert lines[3] == "2026-11-1,amount,110.99,100.00,10.99,9.90,NEGATIVE_MARGIN"
    out = capsys.readouterr().out
    assert "ALERTA: el comprador declara 3.85 L más de los que acopió el centro" in out
    assert "ALERTA: el comprador pagó menos" in out
    assert "Merma dentro" not in out
    # Names from the registry in the detail per producer, which foots to the center's figures.
    detail = out[out.index("Productor"):].splitlines()
    assert detail[1].split()[:2] == ["p001", "Juana"] and detail[1].split()[-2:] == ["65.90", "67.52"]
    assert detail[-1].split() == ["TOTAL", "106.15", "110.99"]


def test_within_the_limit_is_not_flagged(tmp_path, capsys):
    # 106.15 - 105.50 = 0.65 L = 0.61 % <= 1 %
    assert reconcile(tmp_path, "2026-11-1,105.50,,100.00\n", "--lang", "en") == 0
    out = capsys.readouterr().out
    assert "Shrinkage within the limit of 1 %" in out and "ALERT: the buyer paid less" in out


def test_bad_buyer_file(tmp_path, capsys):
    assert reconcile(tmp_path, "2026-11-1,-5,11.6,100\n", "--lang", "es") == 2
    assert capsys.readouterr().err.strip().endswith("buyer.csv: fila 2, campo liters: valor negativo '-5'")
    assert reconcile(tmp_path, "2026-11-2,5,11.6,100\n", "--lang", "en") == 2
    assert "buyer.csv: no row for period 2026-11-1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
