"""Issue 4 at the bench: registry, reception tests, acceptance rules, the fat
source chain, sealed records with void/correction, receipts, shift summaries."""

import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.protocols import TimedAnalysis
from collector_station.intake.flow import AcceptanceRules, IntakeFlow
from collector_station.intake.keypad import apply, parse_keypad
from collector_station.instruments.protocols import Analysis
from collector_station.intake.receipt import render_receipt, render_shift_summary
from collector_station.intake.shifts import shift_of, summarize
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station
from milk_common.integrity import first_broken_link, record_hash

from .conftest import wait_until

D = Decimal
LIMA = ZoneInfo("America/Lima")
KEY = "00112233445566778899aabbccddeeff"


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def bench(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", tanks=0, seed=1, frame_interval_s=0.01,
                           settle_s=0.05).start()
    yield bench
    bench.stop()


@pytest.fixture
def station_config(bench, tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05)
                    + f'[integrity]\nhmac_key = "{KEY}"\n[shifts.starts]\nmanana = "03:00"\ntarde = "12:00"\n')
    (tmp_path / "producers.csv").write_text(
        "code,name,active,lab_fat_pct,lab_date\n"
        "p001,Rosa Quispe,true,4.0,2026-11-10\n"
        "p002,Juan Mamani,true,3.8,2026-10-01\n"
        "p003,Ana Flores,false,,\n")
    run = subprocess.run([sys.executable, "-m", "collector_station", "producers", "import",
                          str(tmp_path / "producers.csv"), "--config", str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "3 productores" in run.stdout
    return path


@pytest.fixture
def station(station_config):
    clock = Clock(datetime(2026, 11, 12, 6, 30, tzinfo=LIMA))
    shown, printed = [], []
    st = Station(load_station_config(station_config), clock=clock, display=shown.append,
                 printer=printed.append).start()
    assert st.wait_ready()
    st.shown, st.printed, st.test_clock = shown, printed, clock
    yield st
    st.stop()


def keys(station, *lines):
    for line in lines:
        apply(station, parse_keypad(line))


def measure(bench, kg, density=1.031, temp=15.0):
    bench.scale.place(kg)
    bench.densimeter.measure(density, temp)


def test_a_keypad_word_is_no_producer_code_on_any_face(station_config):
    """The console takes any typed code, but `ap` is the keypad's "alcohol
    passes": refused there as at the keypad and in the registry, even when
    unknown codes are allowed."""
    station_config.write_text(station_config.read_text() + "[registry]\nrequire_known = false\n")
    shown = []
    st = Station(load_station_config(station_config), clock=Clock(datetime(2026, 11, 12, 6, 30, tzinfo=LIMA)),
                 display=shown.append, printer=lambda text: None)
    try:
        assert st.enter_producer("ap") is False and st.flow.producer is None
        assert shown[-1] == "«ap» es una orden del teclado, no un código de productor."
        assert st.enter_producer("P 1") is False and "no válido" in shown[-1]
        assert st.enter_producer("p777") is True and st.flow.producer == "p777"
    finally:
        st.stop()


def test_registered_producer_tests_confirm_receipt(station, bench):
    keys(station, "p999")
    assert any("no registrado" in m for m in station.shown)
    keys(station, "p003")
    assert any("inactivo" in m for m in station.shown)
    keys(station, "p001")
    measure(bench, 20.62)
    wait_until(lambda: any("Falta registrar: prueba de alcohol" in m for m in station.shown), 5)
    keys(station, "ap")
    wait_until(lambda: any("pulse ACEPTAR o RECHAZAR" in m for m in station.shown), 5)
    assert station.wait_for_delivery(0, 0.3) is None        # nothing before the operator accepts
    keys(station, "+")
    d = station.wait_for_delivery(0, 5)
    assert d["accepted"] and d["producer"] == "p001" and d["alcohol_test"] == "pass"
    # Lab fat 4.0 of 2026-11-10 is valid on the 12th: TS = 31/4 + 1.2*4.0 + 0.14 = 12.69.
    assert d["fat_source"] == "lab" and d["fat_pct"] == 4.0 and d["solids_pct"] == 12.69
    receipt = station.printed[-1]
    assert "RECIBO DE ENTREGA DE LECHE" in receipt and "ACEPTADA" in receipt
    assert "Rosa Quispe" in receipt and "20.00 L" in receipt and "12.69 %" in receipt
    assert "laboratorio" in receipt
    assert "Código de verificación" in receipt and d["receipt_code"] in receipt
    assert d["receipt_code"] == f"{d['hash'][:4]}-{d['hash'][4:8]}".upper()
    keys(station, "p")
    assert "*** COPIA ***" in station.printed[-1] and d["receipt_code"] in station.printed[-1]


def test_expired_lab_fat_uses_the_center_default(station, bench):
    keys(station, "p002", "ap")             # lab test of 2026-10-01: expired after 15 days
    measure(bench, 10.31)
    wait_until(lambda: any("pulse ACEPTAR" in m for m in station.shown), 5)
    keys(station, "+")
    d = station.wait_for_delivery(0, 5)
    assert d is not None, (station.shown, station.scale.state, station.densimeter.latest)
    assert d["fat_source"] == "default" and d["fat_pct"] == 3.5 and d["solids_pct"] == 12.09


def test_alcohol_positive_is_recorded_rejected_without_weighing(station, bench):
    keys(station, "p001", "af")
    d = station.wait_for_delivery(0, 5)
    assert d["accepted"] is False and d["reject_reason"] == "alcohol_positive"
    assert d["weight_kg"] is None and d["liters"] == 0.0 and d["alcohol_test"] == "fail"
    assert "RECHAZADA" in station.printed[-1] and "alcohol positiva" in station.printed[-1]
    # The next producer can deliver at once: nothing was on the scale.
    keys(station, "p002", "ap")
    measure(bench, 12.0)
    wait_until(lambda: any("pulse ACEPTAR" in m for m in station.shown), 5)
    keys(station, "-  leche con olor")
    d2 = station.wait_for_delivery(d["seq"], 5)
    assert d2["accepted"] is False and d2["reject_reason"] == "operator_reject"
    assert d2["weight_kg"] == 12.0 and d2["note"] == "leche con olor"


def test_void_and_correction_are_new_sealed_records(station, bench, station_config, tmp_path):
    keys(station, "p001", "ap")
    measure(bench, 15.0)
    wait_until(lambda: any("pulse ACEPTAR" in m for m in station.shown), 5)
    keys(station, "+")
    first = station.wait_for_delivery(0, 5)
    bench.scale.remove()
    wait_until(lambda: station.scale.state == "empty", 5)
    keys(station, "c 1 p002 4321 productor equivocado")
    assert station.wait_for_delivery(first["seq"], 0.3) is None        # no supervisor PIN yet
    assert "No hay PIN de supervisor" in station.shown[-1]
    from collector_station.supervisor import store_pin
    store_pin(tmp_path / "data", "4321")
    keys(station, "c 1 p002 4321")
    assert "motivo" in station.shown[-1]                                # a reason is required
    keys(station, "c 1 p002 4321 productor equivocado")
    corr = station.wait_for_delivery(first["seq"], 5)
    assert corr["kind"] == "correction" and corr["refers_to"] == first["id"]
    assert corr["producer"] == "p002" and corr["liters"] == first["liters"]
    keys(station, "x 2 4321 error de digitación")
    void = station.wait_for_delivery(corr["seq"], 5)
    assert void["kind"] == "void" and void["refers_to"] == corr["id"] and void["accepted"] is False
    receipt = " ".join(station.printed[-1].split())     # names the delivery as the producer knows it
    assert "Anula la entrega N.º 2 del productor p002" in receipt and "error de digitación" in receipt
    assert corr["id"] not in receipt and corr["id"][:16] not in receipt
    keys(station, "x 2 4321 otra vez")
    assert "ya está anulada" in station.shown[-1]
    records = station.outbox.deliveries()
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0] == first                               # the original is never updated
    assert first_broken_link(records, bytes.fromhex(KEY)) is None


def verify(config_path):
    return subprocess.run([sys.executable, "-m", "collector_station", "verify", "--config",
                           str(config_path)], capture_output=True, text=True)


def test_verify_finds_the_first_altered_record(station, bench, station_config, tmp_path):
    seq = 0
    for producer, kg in (("p001", 11.0), ("p002", 12.0), ("p001", 13.0)):
        keys(station, producer, "ap")
        measure(bench, kg)
        assert station.wait_confirmation(5)
        keys(station, "+")
        seq = station.wait_for_delivery(seq, 5)["seq"]
        bench.scale.remove()
        wait_until(lambda: station.scale.state == "empty", 5)
    station.stop()
    ok = verify(station_config)
    assert ok.returncode == 0 and "3 registros verificados" in ok.stdout
    db = sqlite3.connect(tmp_path / "data" / "station.sqlite3")
    record = json.loads(db.execute("SELECT record FROM deliveries WHERE seq = 2").fetchone()[0])
    record["liters"] += 5                                     # someone adds 5 litres
    db.execute("UPDATE deliveries SET record = ? WHERE seq = 2", (json.dumps(record),))
    db.commit()
    bad = verify(station_config)
    assert bad.returncode == 1 and "N.º 2" in bad.stdout and "modificados" in bad.stdout
    record["hash"] = record_hash(record)                      # re-hashed without the key
    db.execute("UPDATE deliveries SET record = ? WHERE seq = 2", (json.dumps(record),))
    db.commit()
    bad = verify(station_config)
    assert bad.returncode == 1 and "N.º 2" in bad.stdout and "firma" in bad.stdout
    db.execute("DELETE FROM deliveries WHERE seq = 2")
    db.commit()
    assert verify(station_config).returncode == 1


def test_acceptance_rules_pure():
    a = TimedAnalysis(Analysis(density_g_ml=D("1.031"), temp_c=D("15")), 0.0, 0)
    rules = AcceptanceRules(alcohol_test="optional", organoleptic="required", confirm=False,
                            acidity_max_dornic=D("18"), reject_below_solids_pct=D("11.0"))
    flow = IntakeFlow(rules=rules)
    flow.enter_producer("p1")
    assert flow.next_step("stable", D("10"), a, 0).name == "wait_tests"
    flow.record_test("organoleptic", True)
    assert flow.next_step("stable", D("10"), a, 0).name == "record"
    flow.record_test("acidity", D("19"))
    step = flow.next_step("stable", D("10"), a, 0)
    assert (step.name, step.accepted, step.reason) == ("record", False, "acidity_high")
    flow.enter_producer("p2")
    flow.record_test("organoleptic", False)
    assert flow.next_step("moving", None, None, 0).reason == "organoleptic_fail"
    from collector_station.intake.quality import assess
    low = assess(D("1.024"), D("15"), D("3.0"))               # 6 + 3.6 + 0.14 = 9.74
    flow.enter_producer("p3")
    flow.record_test("organoleptic", True)
    assert flow.next_step("stable", D("10"), a, 0, low).reason == "solids_below_floor"


def test_keypad_grammar():
    assert parse_keypad("P001").action == "producer"
    assert parse_keypad("ap").args == ("alcohol", True)
    assert parse_keypad("af").args == ("alcohol", False)
    assert parse_keypad("of").args == ("organoleptic", False)
    assert parse_keypad("ac 16,5").args == ("acidity", D("16.5"))
    assert parse_keypad("- sucia").args == (False, "sucia")
    assert parse_keypad("+").args == (True, "")
    assert parse_keypad("x 12 4321 error de digitación").args == ("12", "error de digitación", "4321")
    assert parse_keypad("c 12 P005 4321 otro").args == ("12", "P005", "otro", "4321")
    assert parse_keypad("x 12 error").action == "usage"          # the PIN is missing
    assert parse_keypad("e tanque1").action == "tank_emptied"
    assert parse_keypad("m tanque1").args == ("tanque1",)
    assert parse_keypad("ac abc").action == "invalid"
    assert parse_keypad("two words").action == "invalid"


def test_shift_summary_numbers_and_text():
    base = {"center": "c1", "station": "s1", "kind": "delivery"}
    records = [
        {**base, "id": "a", "producer": "p1", "accepted": True, "liters": 10.0, "solids_pct": 12.0},
        {**base, "id": "b", "producer": "p2", "accepted": True, "liters": 30.0, "solids_pct": 11.0},
        {**base, "id": "c", "producer": "p2", "accepted": False, "liters": 0.0, "solids_pct": None,
         "reject_reason": "alcohol_positive"},
        {**base, "id": "d", "producer": "p1", "accepted": True, "liters": 99.0, "solids_pct": 13.0},
        {**base, "id": "e", "producer": "p1", "accepted": False, "liters": 0.0, "kind": "void",
         "refers_to": "d", "reject_reason": "void"},
    ]
    s = summarize(records, center="c1", station="s1", day=datetime(2026, 11, 12).date(), shift="manana",
                  ts="2026-11-12T12:00:00.000-05:00")
    # d is voided: 10 L at 12 % and 30 L at 11 % -> (120 + 330) / 40 = 11.25
    assert (s["deliveries"], s["rejected"], s["liters"], s["avg_solids_pct"]) == (3, 1, 40.0, 11.25)
    assert s["rejections"] == {"alcohol_positive": 1}
    text = render_shift_summary(s, "es")
    assert "RESUMEN DE TURNO" in text and "40.00 L" in text and "11.25 %" in text
    starts = {"manana": "03:00", "tarde": "12:00"}
    assert shift_of(datetime(2026, 11, 12, 2, 0, tzinfo=LIMA), starts, LIMA) == \
        (datetime(2026, 11, 11).date(), "tarde")
    assert shift_of(datetime(2026, 11, 12, 12, 0, tzinfo=LIMA), starts, LIMA)[1] == "tarde"


def test_receipt_english_and_rejected():
    record = {"center": "c1", "station": "s1", "ts": "2026-11-12T06:30:00.000-05:00", "seq": 7,
              "producer": "p1", "weight_kg": None, "liters": 0.0, "density_15c": None,
              "milk_temp_c": None, "solids_pct": None, "fat_pct": None, "fat_source": None,
              "accepted": False, "reject_reason": "alcohol_positive", "receipt_code": "ABCD-1234"}
    text = render_receipt(record, "en")
    assert "MILK DELIVERY RECEIPT" in text and "REJECTED" in text and "ABCD-1234" in text
    assert all(len(line) <= 32 for line in text.splitlines())
    # The "no fat figure" line is a label and a dash, not a lone dash.
    assert any(line.startswith("Fat") and line.endswith("—") for line in text.splitlines())
    wide = render_receipt(record, "en", width=48)
    assert max(len(line) for line in wide.splitlines()) == 48


def test_shift_closes_when_the_next_begins(station, bench):
    keys(station, "p001", "ap")
    measure(bench, 10.0)
    assert station.wait_confirmation(5)
    keys(station, "+")
    first = station.wait_for_delivery(0, 5)
    bench.scale.remove()
    wait_until(lambda: station.scale.state == "empty", 5)
    station.test_clock.now = datetime(2026, 11, 12, 16, 0, tzinfo=LIMA)   # afternoon
    keys(station, "p002", "ap")
    measure(bench, 12.0)
    assert station.wait_confirmation(5)
    keys(station, "+")
    station.wait_for_delivery(first["seq"], 5)
    summaries = [json.loads(m.payload) for m in station.outbox.unsent(limit=1000)
                 if m.topic.endswith("/shift")]
    assert len(summaries) == 1 and summaries[0]["shift"] == "manana"
    assert summaries[0]["deliveries"] == 1 and summaries[0]["liters"] == first["liters"]
    assert any("RESUMEN DE TURNO" in p for p in station.printed)


def test_tank_keys_drive_the_cold_chain(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=2, frame_interval_s=0.01,
                           settle_s=0.05).start()
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data")))
    shown = []
    station = Station(load_station_config(path), display=shown.append, printer=lambda t: None)
    try:
        keys(station, "m tank9")
        assert any("desconocido" in m for m in shown)
        keys(station, "m tank1")
        assert station.coldchain.states["tank1"].state == "cooling"
        keys(station, "e tank1")
        assert station.coldchain.states["tank1"].state == "empty"
        changes = [json.loads(m.payload) for m in station.outbox.unsent(limit=100)
                   if m.topic.endswith("/coldchain")]
        assert [c["state"] for c in changes] == ["cooling", "empty"]
    finally:
        station.stop()
        bench.stop()
