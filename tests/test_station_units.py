"""Station parts without servers: stability, intake flow, 1-Wire, outbox, config."""

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.devices import DS18B20, StabilityTracker, TimedAnalysis, parse_w1_slave
from collector_station.errors import UserError
from collector_station.intake.flow import AcceptanceRules, IntakeFlow, build_delivery
from collector_station.outbox.store import Outbox
from collector_station.instruments.protocols import Analysis, Weight
from collector_station.intake.quality import QualityLimits
from collector_station.instruments.simulate import w1_slave_text

D = Decimal
KEY = b"0123456789abcdef0123456789abcdef"
AUTO = AcceptanceRules(alcohol_test="off", organoleptic="off", confirm=False)
REPO = Path(__file__).resolve().parent.parent


def tracker(window=1.0):
    return StabilityTracker(window, D("0.02"), D("0.5"), D("300"))


def test_stable_only_after_window_and_flag():
    t = tracker()
    assert t.update(Weight(D("20.00"), False), 0.0) == "moving"
    assert t.update(Weight(D("20.00"), True), 0.1) == "moving"
    assert t.update(Weight(D("20.01"), True), 0.6) == "moving"
    assert t.update(Weight(D("20.01"), True), 1.1) == "stable"
    assert t.stable_kg == D("20.01")


def test_stability_window_restarts_on_jump():
    t = tracker()
    t.update(Weight(D("20.00"), True), 0.0)
    assert t.update(Weight(D("20.50"), True), 0.9) == "moving"   # swung: restart
    assert t.update(Weight(D("20.50"), True), 1.5) == "moving"
    assert t.update(Weight(D("20.50"), True), 2.0) == "stable"


@pytest.mark.parametrize("weight, reason", [
    (Weight(None, False, "overload"), "overload"), (Weight(None, False, "underload"), "underload"),
    (Weight(None, None, "error"), "error"), (Weight(D("301"), True), "over_capacity"),
])
def test_fault_states_never_stable(weight, reason):
    t = tracker(window=0)
    t.update(Weight(D("20"), True), 0.0)
    assert t.update(weight, 0.1) == "fault" and t.stable_kg is None
    assert t.fault_reason == reason


@pytest.mark.parametrize("kg", ["-0.3", "-0.01", "0", "0.49"])
def test_a_lifted_can_reading_near_zero_is_empty_not_a_fault(kg):
    t = tracker(window=0)
    t.update(Weight(D("20"), True), 0.0)
    assert t.update(Weight(D(kg), False), 0.1) == "empty" and t.fault_reason is None


def test_a_negative_reading_is_neither_empty_nor_a_fault():
    t = tracker(window=0)
    assert t.update(Weight(D("-3"), True), 0.0) == "negative"
    assert t.stable_kg is None and t.fault_reason is None


def test_empty_below_threshold():
    assert tracker().update(Weight(D("0.3"), True), 0.0) == "empty"


def analysis(n, received=0.0):
    return TimedAnalysis(Analysis(density_g_ml=D("1.031"), temp_c=D("15")), received, n)


def test_intake_flow_needs_code_weight_fresh_density_then_removal():
    flow = IntakeFlow(densimeter=True, density_max_age_s=60, rules=AUTO)
    step = lambda *a: flow.next_step(*a).name  # noqa: E731
    assert step("stable", D("20"), analysis(0), 1.0) == "enter_code"
    flow.enter_producer("p001")
    assert step("moving", None, analysis(0), 1.0) == "wait_stable"
    assert step("stable", D("20"), None, 1.0) == "wait_density"
    assert step("stable", D("20"), analysis(0, received=0.0), 100.0) == "wait_density"
    assert step("stable", D("20"), analysis(0, received=90.0), 100.0) == "record"
    flow.recorded(analysis(0), weighed=True)
    flow.enter_producer("p002")
    # Same can still on the scale: never a second delivery from it.
    assert step("stable", D("20"), analysis(1, 99.0), 100.0) == "remove_can"
    assert step("empty", None, analysis(1, 99.0), 100.0) == "wait_stable"
    # The density reading already used for p001 does not count for p002.
    flow2 = IntakeFlow(densimeter=True, rules=AUTO)
    flow2.enter_producer("a")
    flow2.recorded(analysis(3), weighed=True)
    flow2.next_step("empty", None, None, 0)
    flow2.enter_producer("b")
    assert flow2.next_step("stable", D("10"), analysis(3), 0).name == "wait_density"


def test_build_delivery_values_and_sources():
    ts = datetime(2026, 11, 15, 23, 59, tzinfo=ZoneInfo("America/Lima"))
    record = build_delivery(center="c1", station="s1", producer="p001", ts=ts,
                            weight_kg=D("25.775"), analysis=analysis(0), formula="richmond",
                            limits=QualityLimits())
    assert record["ts"] == "2026-11-15T23:59:00.000-05:00"
    assert record["liters"] == 25.0 and record["liters_density"] == "measured"
    assert record["solids_pct"] == 12.09 and record["fat_source"] == "default"
    assert record["accepted"] is True and record["weight_source"] == "scale"
    with pytest.raises(ValueError):
        build_delivery(center="c1", station="s1", producer="p", ts=datetime(2026, 1, 1),
                       weight_kg=D("1"), analysis=None, formula="richmond", limits=QualityLimits())


def test_w1_slave_traps():
    assert parse_w1_slave(w1_slave_text(4.125)) == (4.125, "ok")
    assert parse_w1_slave(w1_slave_text(4.125, crc_ok=False)) == (None, "crc")
    assert parse_w1_slave(w1_slave_text(85.0)) == (None, "power_on_value")
    assert parse_w1_slave("") == (None, "malformed")


def test_ds18b20_folder(tmp_path):
    probe_dir = tmp_path / "28-000000000001"
    probe_dir.mkdir()
    probe = DS18B20(tmp_path, "28-000000000001")
    (probe_dir / "w1_slave").write_text(w1_slave_text(3.5))
    assert probe.read_c() == 3.5
    (probe_dir / "w1_slave").write_text(w1_slave_text(3.5, crc_ok=False))
    assert probe.read_c() is None and probe.last_error == "crc"
    (probe_dir / "w1_slave").unlink()
    (probe_dir / "temperature").write_text("4250\n")
    assert probe.read_c() == 4.25
    (probe_dir / "temperature").unlink()
    probe_dir.rmdir()
    assert probe.read_c() is None and probe.last_error == "vanished"


def delivery(producer: str, ts: str) -> dict:
    """A delivery as the bench builds it: the outbox takes nothing the contract refuses."""
    return build_delivery(center="c1", station="s1", producer=producer, ts=datetime.fromisoformat(ts),
                          weight_kg=D("20.5"), analysis=analysis(0), formula="richmond",
                          limits=QualityLimits())


def test_outbox_order_ids_and_durability(tmp_path):
    path = tmp_path / "station.sqlite3"
    outbox = Outbox(path)
    payloads = [outbox.record_delivery(delivery(f"p{i}", "2026-11-01T06:00:00-05:00"), "t", KEY)
                for i in range(5)]
    assert [p["seq"] for p in payloads] == [1, 2, 3, 4, 5]
    assert len({p["id"] for p in payloads}) == 5
    outbox.mark_sent([msg.n for msg in outbox.unsent(limit=2)])
    outbox.close()
    reopened = Outbox(path)   # a restart: the same unsent rows, same payloads, in order
    unsent = reopened.unsent()
    assert [json.loads(m.payload)["seq"] for m in unsent] == [3, 4, 5]
    assert [json.loads(m.payload)["id"] for m in unsent] == [p["id"] for p in payloads[2:]]
    sixth = reopened.record_delivery(delivery("x", "2026-11-01T07:00:00-05:00"), "t", KEY)
    assert sixth["seq"] == 6 and sixth["prev_hash"] == payloads[-1]["hash"]


def test_acknowledged_outbox_copies_are_pruned_not_the_record(tmp_path):
    outbox = Outbox(tmp_path / "s.sqlite3")
    for i in range(3):
        outbox.record_delivery(delivery("p1", f"2026-11-01T06:0{i}:00-05:00"), "t", KEY)
    outbox.mark_sent([m.n for m in outbox.unsent(limit=2)])
    assert outbox.prune_sent("2000-01-01T00:00:00.000+00:00") == 0     # too recent
    assert outbox.prune_sent("9999-01-01T00:00:00.000+00:00") == 2
    assert [json.loads(m.payload)["seq"] for m in outbox.unsent()] == [3]   # unsent kept
    assert [d["seq"] for d in outbox.deliveries()] == [1, 2, 3]             # the record kept


def test_tank_samples_batched(tmp_path):
    outbox = Outbox(tmp_path / "s.sqlite3")
    for i in range(25):
        outbox.add_tank_sample("tank1", f"2026-11-01T06:{i:02d}:00-05:00", 4.0 + i / 10)
    outbox.add_tank_sample("tank1", "2026-11-01T06:30:00-05:00", None)
    envelope = {"center": "c1", "station": "s1"}
    assert outbox.batch_tank_samples(lambda t: f"milk/v1/c1/s1/tank/{t}", envelope, 10) == 2
    assert outbox.batch_tank_samples(lambda t: f"milk/v1/c1/s1/tank/{t}", envelope, 10, force=True) == 1
    messages = outbox.unsent()
    sizes = [len(json.loads(m.payload)["samples"]) for m in messages]
    assert sizes == [10, 10, 6]
    assert json.loads(messages[-1].payload)["samples"][-1]["temp_c"] is None


def test_a_tank_reading_the_contract_cannot_carry_goes_as_none(tmp_path):
    """tank_payload checks its batch: a probe's 125 °C must not stop every batch after it."""
    outbox = Outbox(tmp_path / "s.sqlite3")
    for i, temp in enumerate((4.0, 125.0, -55.0, 120.0)):
        outbox.add_tank_sample("tank1", f"2026-11-01T06:0{i}:00-05:00", temp)
    envelope = {"center": "c1", "station": "s1"}
    assert outbox.batch_tank_samples(lambda t: f"milk/v1/c1/s1/tank/{t}", envelope, 4) == 1
    (message,) = outbox.unsent()
    assert [s["temp_c"] for s in json.loads(message.payload)["samples"]] == [4.0, None, None, 120.0]


def test_example_station_config_loads():
    config = load_station_config(REPO / "examples" / "station.toml")
    assert config.scale.format == "ad" and config.thermometers.tanks


@pytest.mark.parametrize("change, message", [
    (("baudrate = 9600", "baudrat = 9600"), "[scale] baudrat: clave desconocida"),
    (('format = "ad"', 'format = "xyz"'), "[scale] format"),
    (('center = "centro1"', 'center = "Centro 1"'), "center"),
    (('formula = "richmond"', 'formula = "nope"'), "[quality] formula"),
    (("[scale]", "[scalee]"), "scalee: clave desconocida"),
    (("baudrate = 9600", 'baudrate = "rápido"'), "[scale] baudrate: debe ser un número entero"),
])
def test_bad_station_config_names_the_key(tmp_path, monkeypatch, change, message):
    spanish_locale(monkeypatch)
    text = (REPO / "examples" / "station.toml").read_text().replace(*change, 1)
    path = tmp_path / "station.toml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_station_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def spanish_locale(monkeypatch, lang: str = "es_BO.UTF-8") -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)


def test_station_config_not_toml(tmp_path, monkeypatch):
    path = tmp_path / "station.toml"
    path.write_text("center = \n")
    spanish_locale(monkeypatch)
    with pytest.raises(UserError, match="no es TOML válido"):
        load_station_config(path)
    spanish_locale(monkeypatch, "en_US.UTF-8")   # English when the locale says so
    with pytest.raises(UserError, match="not valid TOML"):
        load_station_config(path)
