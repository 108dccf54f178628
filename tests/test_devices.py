"""Device classes over real transports: pseudo-terminals driven by the
simulators, loop://, and fake 1-Wire folders."""

import pathlib
import time
from decimal import Decimal

import pytest

from collector_station.config import DensimeterConfig, ScaleConfig, ThermometersConfig
from collector_station.instruments.devices import (
    DS18B20,
    Densimeter,
    Scale,
    SerialInstrument,
    StabilityTracker,
    TankProbes,
    tank_probes,
)
from collector_station.instruments.protocols import Weight
from collector_station.instruments.simulate import (
    HX711_COUNTS_PER_KG,
    HX711_OFFSET_COUNTS,
    PtyPort,
    VirtualDensimeter,
    VirtualScale,
    VirtualTank,
    ad_frame,
    w1_slave_text,
)

from .conftest import wait_until

D = Decimal


# -- stability without a flag -------------------------------------------------
def tracker(window=1.0):
    return StabilityTracker(window, D("0.02"), D("0.5"), D("300"))


def test_flagless_source_is_stable_by_window_and_tolerance_alone():
    t = tracker()
    assert t.update(Weight(D("20.00"), None), 0.0) == "moving"
    assert t.update(Weight(D("20.01"), None), 0.5) == "moving"
    assert t.update(Weight(D("20.02"), None), 1.0) == "stable"
    assert t.stable_kg == D("20.02")
    # A swing beyond the tolerance restarts the window.
    assert t.update(Weight(D("20.30"), None), 1.1) == "moving"
    assert t.update(Weight(D("20.30"), None), 2.0) == "moving"
    assert t.update(Weight(D("20.31"), None), 2.1) == "stable"


def test_flag_false_always_moving_even_if_readings_agree():
    t = tracker(window=0.0)
    for i in range(5):
        assert t.update(Weight(D("20.00"), False), i) == "moving"
    assert t.stable_kg is None


def test_flagless_negative_and_overload_are_faults():
    t = tracker(window=0.0)
    assert t.update(Weight(D("-0.40"), None), 0) == "fault"
    assert t.update(Weight(D("400"), None), 1) == "fault"
    assert t.stable_kg is None


# -- scales of every format over a pseudo-terminal -------------------------------
def scale_on_pty(tmp_path, fmt, **sim):
    port = PtyPort(tmp_path / "scale")
    virtual = VirtualScale(port, frame_interval_s=0.01, settle_s=0.15, seed=1, fmt=fmt,
                           **sim).start()
    config = ScaleConfig(port=port.path, format=fmt, stable_window_s=0.1, poll_interval_s=0.02,
                         counts_per_kg=D(HX711_COUNTS_PER_KG), offset_counts=HX711_OFFSET_COUNTS)
    statuses = []
    scale = Scale.from_config(config, on_status=lambda name, state: statuses.append(state))
    scale.instrument.start()
    return port, virtual, scale, statuses


@pytest.mark.parametrize("fmt", ["ad", "sics", "toledo", "simple", "bridge"])
def test_scale_settles_tares_and_faults(tmp_path, fmt):
    port, virtual, scale, statuses = scale_on_pty(tmp_path, fmt)
    try:
        wait_until(lambda: scale.state == "empty", 5, 0.01, f"{fmt}: empty scale")
        virtual.place(12.5)
        wait_until(lambda: scale.state == "moving", 5, 0.005, f"{fmt}: motion while settling")
        wait_until(lambda: scale.stable_kg is not None, 5, 0.01, f"{fmt}: stable")
        assert abs(scale.stable_kg - D("12.5")) <= D("0.01")
        if fmt == "simple":
            assert scale.last_weight.stable is None      # no flag: the window decided
            assert scale.tare() is False                 # these scales take no commands
        else:
            assert scale.tare() is True
            wait_until(lambda: scale.state == "empty", 5, 0.01, f"{fmt}: tared to empty")
        virtual.overload = True
        if fmt == "simple":
            return
        wait_until(lambda: scale.state == "fault", 5, 0.01, f"{fmt}: overload is a fault")
        assert scale.stable_kg is None
    finally:
        scale.instrument.stop()
        virtual.stop()
        port.unplug()
    assert statuses[0] == "connected"


def test_sics_scale_is_polled(tmp_path):
    port, virtual, scale, _ = scale_on_pty(tmp_path, "sics")
    try:
        wait_until(lambda: scale.last_weight is not None, 5, 0.01)
        assert any(b"SI\r\n" in c for c in virtual.commands_seen)
    finally:
        scale.instrument.stop()
        virtual.stop()
        port.unplug()


def test_scale_unplugged_and_plugged_back_reopens_with_backoff(tmp_path):
    port, virtual, scale, statuses = scale_on_pty(tmp_path, "ad")
    try:
        virtual.place(20.0)
        wait_until(lambda: scale.stable_kg is not None, 5, 0.01)
        port.unplug()
        wait_until(lambda: scale.state == "disconnected", 5, 0.01)
        assert scale.stable_kg is None                 # never a weight from a vanished scale
        time.sleep(0.5)                                 # several failed reopen attempts
        attempts = scale.instrument.reopen_count
        assert attempts >= 2
        port.plug()
        wait_until(lambda: scale.stable_kg is not None, 10, 0.02, "weight after replug")
        assert statuses.count("disconnected") == 1     # said once, not per attempt
        assert statuses[-1] == "connected"
    finally:
        scale.instrument.stop()
        virtual.stop()
        port.unplug()


def test_scale_that_stops_talking_is_not_stable():
    now = [0.0]
    instrument = SerialInstrument("scale", "loop://", "ad")
    instrument.connected = True
    scale = Scale(instrument, tracker(window=0.0), clock=lambda: now[0], stale_after_s=2.0)
    instrument.on_event(Weight(D("20"), True))
    assert scale.state == "stable" and scale.stable_kg == D("20")
    now[0] = 2.5
    assert scale.state == "no_data" and scale.stable_kg is None


def test_instrument_error_status_resets_stability():
    from collector_station.instruments.protocols import Status
    instrument = SerialInstrument("scale", "loop://", "sics")
    instrument.connected = True
    scale = Scale(instrument, tracker(window=0.0))
    instrument.on_event(Weight(D("20"), True))
    assert scale.stable_kg == D("20")
    instrument.on_event(Status("error", "EL"))
    assert scale.state == "fault" and scale.stable_kg is None


def test_loop_transport_feeds_the_parser():
    events = []
    instrument = SerialInstrument("scale", "loop://", "ad", on_event=events.append).start()
    try:
        wait_until(lambda: instrument.connected, 5, 0.01)
        assert instrument.send(ad_frame("ST", 15.25))
        wait_until(lambda: events, 5, 0.01)
        assert events[0] == Weight(D("15.25"), True, "ok", "gross")
        assert instrument.status_dict()["frames"] == 1
    finally:
        instrument.stop()


# -- analyzers ----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["bridge", "lactoscan", "ekomilk"])
def test_analyzer_formats_over_pty(tmp_path, fmt):
    port = PtyPort(tmp_path / "analyzer")
    virtual = VirtualDensimeter(port, fmt)
    densimeter = Densimeter.from_config(DensimeterConfig(port=port.path, format=fmt))
    densimeter.instrument.start()
    try:
        wait_until(lambda: densimeter.instrument.connected, 5, 0.01)
        virtual.measure(1.0305, 18.0, fat_pct=3.9, snf_pct=8.7)
        wait_until(lambda: densimeter.latest is not None, 5, 0.01, fmt)
        reading = densimeter.latest.analysis
        assert reading.density_g_ml == D("1.0305")
        if fmt != "bridge":
            assert reading.fat_pct == D("3.90") and reading.snf_pct == D("8.70")
        if fmt == "ekomilk":
            assert densimeter.start_analysis() is True
            wait_until(lambda: any(c for c in [port.read_commands()]), 2, 0.01)
    finally:
        densimeter.instrument.stop()
        port.unplug()


# -- DS18B20 -------------------------------------------------------------------
def probe_dir(tmp_path, sid="28-000000000001", text=None):
    folder = tmp_path / sid
    folder.mkdir(exist_ok=True)
    if text is not None:
        (folder / "w1_slave").write_text(text)
    return folder


def test_ds18b20_crc_no_is_retried(tmp_path, monkeypatch):
    folder = probe_dir(tmp_path, text=w1_slave_text(4.0))
    reads = iter([w1_slave_text(9.9, crc_ok=False), w1_slave_text(9.9, crc_ok=False),
                  w1_slave_text(4.5)])
    real = pathlib.Path.read_text
    monkeypatch.setattr(pathlib.Path, "read_text",
                        lambda self, *a, **k: next(reads) if self.parent == folder else real(self, *a, **k))
    probe = DS18B20(tmp_path, folder.name, retries=3)
    assert probe.read_c() == 4.5 and probe.last_error == ""


def test_ds18b20_power_on_value_discarded_and_stale_detected(tmp_path):
    folder = probe_dir(tmp_path, text=w1_slave_text(85.0))
    now = [0.0]
    probe = DS18B20(tmp_path, folder.name, stale_after_s=600, clock=lambda: now[0])
    assert probe.read_c() is None and probe.last_error == "power_on_value"
    (folder / "w1_slave").write_text(w1_slave_text(4.125))
    assert probe.read_c() == 4.125
    now[0] = 599
    assert probe.read_c() == 4.125                   # still within the window
    now[0] = 601
    assert probe.read_c() is None and probe.last_error == "stale" and probe.fault
    (folder / "w1_slave").write_text(w1_slave_text(4.25))
    assert probe.read_c() == 4.25 and not probe.fault


def test_tank_with_two_probes_one_vanishes(tmp_path):
    tank = VirtualTank(tmp_path, "28-000000000001", start_c=4.0, extra_probes=("28-000000010001",))
    config = ThermometersConfig(w1_dir=str(tmp_path),
                                tanks={"tanque1": ["28-000000000001", "28-000000010001"],
                                       "tanque2": "28-000000000002"})
    probes = tank_probes(config)
    assert isinstance(probes["tanque1"], TankProbes)
    assert probes["tanque1"].read_c() == pytest.approx(4.15)     # mean of 4.0 and 4.3
    tank.glitch("unplug", "28-000000010001")
    assert probes["tanque1"].read_c() == pytest.approx(4.0)
    assert probes["tanque1"].faults == {"28-000000010001": "vanished"}
    assert "vanished" in probes["tanque1"].last_error
    tank.glitch("unplug")
    assert probes["tanque1"].read_c() is None
    assert probes["tanque2"].read_c() is None and probes["tanque2"].last_error.endswith("vanished")
    tank.glitch("plug", "28-000000010001")
    assert probes["tanque1"].read_c() == pytest.approx(4.3)


def test_temperature_file_of_newer_kernels(tmp_path):
    tank = VirtualTank(tmp_path, "28-000000000003", start_c=3.75, temperature_file=True)
    probe = DS18B20(tmp_path, "28-000000000003")
    assert not (tmp_path / "28-000000000003" / "w1_slave").exists()
    assert probe.read_c() == 3.75
    tank.glitch("power_on")
    assert probe.read_c() is None and probe.last_error == "power_on_value"


def test_config_refuses_a_format_that_does_not_fit_the_device():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="gives no weights"):
        ScaleConfig(port="loop://", format="lactoscan")
    with pytest.raises(ValidationError, match="gives no density"):
        DensimeterConfig(port="loop://", format="toledo")
    assert ScaleConfig(port="loop://", format="toledo").format == "toledo"
