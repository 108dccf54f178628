"""The fortnight from columns (`milk-hub payments --csv-only`) writes what the per-delivery path
writes, byte for byte: on random fortnights against the same engine fed by records (itself proved
equal to the Decimal reference in test_payments_vectorised), on the example files, and from a real
InfluxDB."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from hub.cli import main
from hub.payments import textcols
from hub.payments.checks import check_fortnight
from hub.payments.columnar import (
    check_columns,
    columns_from_deliveries,
    compute_columns,
    compute_fortnight_columnar,
    lines_csv_chunks,
    statements_csv_bytes,
    table_text,
)
from hub.payments.explain import lines_csv_text
from hub.payments.engine import compute_fortnight
from hub.payments.pricing import pricing_from_dict
from hub.payments.records import Advance, Delivery
from hub.payments.statements import render_table, statements_csv_text
from tests.test_payments_vectorised import NOV_1, SCHEMES, random_deliveries

DATA = Path(__file__).parent / "data" / "payments"
OUTPUTS = ("statements.csv", "lines.csv", "statements.txt", "warnings.txt")
ZONES = ("America/Lima", "America/La_Paz", "America/New_York", "Asia/Kolkata")  # New York: DST ends 1 Nov
LIMITS = {"min_solids_pct": "9", "max_solids_pct": "13", "max_liters_per_delivery": "500",
          "min_milk_temp_c": "3", "max_milk_temp_c": "12", "min_price_per_liter": "0.9",
          "max_price_per_liter": "1.1"}


def _row_values(fortnight):
    return [(r.producer, r.deliveries, r.rejected, r.liters_exact, r.avg_solids_pct, r.gross, r.fees,
             r.deductions, r.carried_over, r.net, r.carried_in, r.due) for r in (*fortnight.rows, fortnight.total)]


def _vary(rng: random.Random, deliveries: list[Delivery]) -> list[Delivery]:
    """What the generator lacks: microseconds, reasons that need CSV quoting, long producer
    codes (sorted another way than short ones), two deliveries of one producer in one instant."""
    long_codes = rng.random() < 0.3
    out = []
    for d in deliveries:
        d = replace(d, ts=d.ts.replace(microsecond=rng.choice([0, 0, rng.randrange(1_000_000)])),
                    reject_reason=None if d.accepted else rng.choice([None, "acidity_high", 'sucia, "ver"']),
                    producer=f"{d.producer}-asociacion-norte" if long_codes else d.producer)
        out.append(d)
    if len(out) > 2:
        twin = out[0]
        out.append(replace(twin, id=twin.id + "b" if rng.random() < 0.5 else "a" + twin.id))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_columns_equal_the_vectorised_engine_on_random_fortnights(seed):
    rng = random.Random(seed)
    compared = 0
    for name, table in SCHEMES.items():
        pricing = pricing_from_dict({"price": table, "fees": {"contribution_per_liter": "0.015"},
                                     "limits": LIMITS, "timezone": rng.choice(ZONES)})
        deliveries = _vary(rng, random_deliveries(rng, rng.randint(0, 250), rng.randint(1, 25)))
        advances = [Advance(d.producer, "feed", Decimal("30.25"), 2, NOV_1) for d in deliveries[:2]]
        advances.append(Advance("p9999", "other", Decimal("5.00"), 1, NOV_1))
        names = {d.producer: f"Ñuñoa, {i}" for i, d in enumerate(deliveries[::3])} if seed % 2 else None
        known = set(names) if names is not None else None
        columns = columns_from_deliveries(deliveries, NOV_1, pricing.timezone)
        expected = compute_fortnight_columnar(NOV_1, deliveries, pricing, advances)
        fortnight, priced = compute_columns(NOV_1, columns, pricing, advances)
        assert _row_values(fortnight) == _row_values(expected), name
        assert _row_values(fortnight) == _row_values(compute_fortnight(NOV_1, deliveries, pricing, advances))
        assert fortnight.outside_period == expected.outside_period
        assert statements_csv_text(fortnight, names) == statements_csv_text(expected, names)
        assert statements_csv_bytes(fortnight, priced, names).decode() == statements_csv_text(expected, names)
        for lang in ("es", "en"):
            assert table_text(fortnight, priced, lang, names) == render_table(expected, lang, names)
        lines = b"".join(lines_csv_chunks(fortnight, columns, priced, names, rows_per_chunk=rng.randint(1, 60)))
        assert lines.decode() == lines_csv_text(expected, names), name
        words = [f.words("es") for f in check_columns(fortnight, columns, priced, advances, known)]
        assert words == [f.words("es") for f in check_fortnight(expected, advances, known)]
        compared += 1
    assert compared == len(SCHEMES)


def test_an_accepted_delivery_without_solids_is_named_as_the_other_engines_do():
    pricing = pricing_from_dict({"price": SCHEMES["solids_bonus"]})
    ts = datetime(2026, 11, 3, 12, tzinfo=UTC)
    deliveries = [Delivery("d1", "p1", ts, Decimal(10), Decimal("11.5"), True),
                  Delivery("d2", "p0", ts + timedelta(hours=1), Decimal(10), None, True)]
    with pytest.raises(Exception) as expected:
        compute_fortnight(NOV_1, deliveries, pricing)
    with pytest.raises(type(expected.value)) as got:
        compute_columns(NOV_1, columns_from_deliveries(deliveries, NOV_1, pricing.timezone), pricing)
    assert str(got.value) == str(expected.value) and "d2" in str(got.value)


def _run(tmp_path: Path, out: str, *args: str) -> Path:
    assert main(["payments", "--period", "2026-11-1", "--out", str(tmp_path / out), "--quiet",
                 "--lang", "es", *args]) == 0
    return tmp_path / out


@pytest.mark.parametrize("pricing", ["pricing.toml", "pricing-explained.toml"])
def test_csv_only_writes_the_files_of_no_pdf_and_nothing_else(tmp_path, pricing):
    common = ["--pricing", str(DATA / pricing), "--deliveries", str(DATA / "deliveries.csv"),
              "--advances", str(DATA / "advances.csv"), "--producers", str(DATA / "producers.csv"),
              "--csv-locale", "es_BO"]
    full = _run(tmp_path, "full", *common, "--no-pdf")
    lean = tmp_path / "lean"
    (lean / "statements").mkdir(parents=True)
    (lean / "statements" / "p001.txt").write_text("an earlier run")
    _run(tmp_path, "lean", *common, "--csv-only")
    for name in (*OUTPUTS, "statements-es_BO.csv"):
        assert (lean / name).read_bytes() == (full / name).read_bytes(), name
    assert sorted(p.name for p in lean.iterdir()) == sorted((*OUTPUTS, "statements-es_BO.csv"))


def test_csv_only_with_a_scheme_per_kg_of_solids(tmp_path):
    (tmp_path / "pricing.toml").write_text('[price]\nscheme = "per_kg_solids"\nprice_per_kg_solids = "9.00"\n'
                                           'kg_per_liter = "1.03"\n')
    common = ["--pricing", str(tmp_path / "pricing.toml"), "--deliveries", str(DATA / "deliveries.csv")]
    full, lean = _run(tmp_path, "full", *common, "--no-pdf"), _run(tmp_path, "lean", *common, "--csv-only")
    for name in OUTPUTS:
        assert (lean / name).read_bytes() == (full / name).read_bytes(), name
    assert not (lean / "statements").exists()


@pytest.mark.parametrize(("read_bytes", "per_kg"), [(1 << 20, False), (300, False), (1 << 20, True)])
def test_csv_only_from_influxdb_equals_the_per_delivery_path(servers, tmp_path, unique, monkeypatch, read_bytes,
                                                              per_kg):
    # 300 bytes: quoted fields across blocks; per_kg: weighed deliveries (weight_kg read as a column) and
    # volumetric ones (litres × kg_per_liter) priced per kg of solids.
    from devtools.fixtures import write_hub_config
    from hub.store import columns
    from hub.store.influx import InfluxV1, line, to_ns

    monkeypatch.setattr(columns, "READ_BYTES", read_bytes)

    influx = InfluxV1(servers.influxdb.url, unique)
    influx.create_database()
    start = datetime(2026, 11, 1, 5, tzinfo=UTC)  # 00:00 in Lima
    rng = random.Random(4)
    points = []
    for i in range(400):
        ts = start + timedelta(seconds=rng.randrange(15 * 86400), microseconds=rng.choice([0, 250, 999_999]))
        accepted = rng.random() > 0.1
        fields = {"id": f"d{i}", "liters": rng.randint(100, 6000) / 100, "solids_pct": rng.randint(900, 1400) / 100,
                  "milk_temp_c": rng.choice([None, 4.5, 9.0, 11.25]), "accepted": accepted, "kind": "delivery",
                  "receipt_code": rng.choice([None, f"K{i:03d}-XY"]),
                  "weight_kg": rng.choice([None, rng.randint(100, 6200) / 100]),
                  "reject_reason": None if accepted else rng.choice(["acidity_high", "sucia, con grumos"])}
        producer = f"P{rng.randrange(12):03d}"
        points.append(line("delivery", {"center": "c1", "station": "s1", "producer": producer}, fields, to_ns(ts)))
    # d5 is voided and d6 corrected by later records: neither is paid, the correction is.
    later = to_ns(start + timedelta(days=2))
    points += [line("delivery", {"center": "c1", "station": "s1", "producer": "P001"},
                    {"id": "v1", "liters": 0.0, "accepted": False, "kind": "void", "refers_to": "d5"}, later),
               line("delivery", {"center": "c1", "station": "s1", "producer": "P002"},
                    {"id": "c1", "liters": 30.5, "solids_pct": 12.04, "accepted": True, "kind": "correction",
                     "refers_to": "d6"}, later + 1)]
    influx.write(points)
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port, influx_url=servers.influxdb.url,
                              database=unique, client_id=f"hub-{unique}", data_dir=tmp_path / "data")
    pricing = DATA / "pricing-explained.toml"
    if per_kg:
        pricing = tmp_path / "pricing-per-kg.toml"
        pricing.write_text('[price]\nscheme = "per_kg_solids"\nprice_per_kg_solids = "9.125"\nkg_per_liter = "1.03"\n'
                           'chilled_bonus_per_liter = "0.02"\nchilled_max_temp_c = "8"\n'
                           '[limits]\nmin_price_per_liter = "1.05"\n')
    common = ["--pricing", str(pricing), "--config", str(config)]
    full, lean = _run(tmp_path, "full", *common, "--no-pdf"), _run(tmp_path, "lean", *common, "--csv-only")
    for name in OUTPUTS:
        assert (lean / name).read_bytes() == (full / name).read_bytes(), name
    lines = (lean / "lines.csv").read_text()
    assert '"sucia, con grumos"' in lines and ",d5," not in lines and ",d6," not in lines and ",c1," in lines


def test_text_columns():
    block = b'd1,49,x\nd2,-2.030,\n'
    ids, numbers, rest = textcols.split_block(block, 3)
    assert ids.tolist() == [b"d1", b"d2"] and rest.tolist() == [b"x", b""]
    assert textcols.split_block(b'd1,"a,b",x\n', 3) is None  # quoted: the csv module reads it
    assert textcols.split_block(b"d1,2\n", 3) is None  # another number of fields
    digits, decimals, present = textcols.decimal_ints(numbers)
    assert digits.tolist() == [49, -2030] and decimals.tolist() == [0, 3] and present.all()
    for bad in (b"1e5", b"1.2.3", b"--1", b"12345678901234567890"):
        assert textcols.decimal_ints(np.array([bad])) is None
    ints = np.array([0, 5, -125, 100000])
    text = textcols.join_rows([ids[[0, 1, 0, 1]], textcols.fixed_text(ints, 3),
                               textcols.fixed_text(textcols.half_up(ints, 3, 2), 2)], 4)
    assert text == b"d1,0.000,0.00\nd2,0.005,0.01\nd1,-0.125,-0.13\nd2,100.000,100.00\n"
    assert [Decimal(v) for v in ("0.005", "-0.125")] == [Decimal(5).scaleb(-3), Decimal(-125).scaleb(-3)]
