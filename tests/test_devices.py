"""Device classes over transports: the synchronous FakeLine (no pty, no
thread, no sleep) for the protocol behaviour, one pseudo-terminal driven by
the simulators for pyserial's real path, and fake 1-Wire folders."""

import logging
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
    TankProbes,
    tank_probes,
)
from collector_station.instruments.protocols import (
    ANALYSIS_FORMATS,
    WEIGHT_FORMATS,
    ParserBug,
    Status,
    Weight,
)
from collector_station.instruments.protocols.ad import ADParser
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
from collector_station.instruments.stability import StabilityTracker
from collector_station.instruments.transport import FakeLine

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


def test_flagless_overload_is_a_fault_and_a_lifted_can_is_not():
    t = tracker(window=0.0)
    # Near zero, below it included, is an empty platform (a can just lifted), not a fault.
    assert t.update(Weight(D("-0.40"), None), 0) == "empty"
    assert t.update(Weight(D("-3"), None), 0.5) == "negative"
    assert t.update(Weight(D("400"), None), 1) == "fault" and t.fault_reason == "over_capacity"
    assert t.stable_kg is None


# -- scales of every format on a fake line, turned by hand -----------------------
class Bench:
    """A virtual scale and the station's Scale on one FakeLine, with a clock
    the test turns: each `run` frame is a tick of the instrument and a step
    of the device, 10 ms of simulated time apart."""

    FRAME_S = 0.01

    def __init__(self, fmt, **sim):
        self.now = 0.0
        self.line = FakeLine("fake://scale")
        self.virtual = VirtualScale(self.line, settle_s=0.15, seed=1, fmt=fmt,
                                    clock=self.clock, **sim)
        config = ScaleConfig(port=self.line.path, format=fmt, stable_window_s=0.1,
                             poll_interval_s=0.02, counts_per_kg=D(HX711_COUNTS_PER_KG),
                             offset_counts=HX711_OFFSET_COUNTS)
        self.statuses = []
        self.scale = Scale.from_config(config, on_status=lambda name, state: self.statuses.append(state),
                                       transport=self.line, clock=self.clock)
        self.states = []

    def clock(self):
        return self.now

    def run_until(self, done, max_s=2.0):
        """Frames until `done()`; False if simulated `max_s` passed first."""
        for _ in range(int(max_s / self.FRAME_S)):
            if done():
                return True
            self.now += self.FRAME_S
            self.scale.instrument.step()
            self.virtual.tick()
            self.states.append(self.scale.state)
        return done()


@pytest.mark.parametrize("fmt", WEIGHT_FORMATS)
def test_scale_settles_tares_and_faults(fmt):
    bench = Bench(fmt)
    scale = bench.scale
    assert scale.instrument.connect() and bench.statuses == ["connected"]
    assert bench.run_until(lambda: scale.state == "empty"), f"{fmt}: empty scale"
    bench.virtual.place(12.5)
    assert bench.run_until(lambda: scale.stable_kg is not None), f"{fmt}: stable"
    assert "moving" in bench.states, f"{fmt}: motion while settling"
    assert abs(scale.stable_kg - D("12.5")) <= D("0.01")
    if fmt == "simple":
        assert scale.last_weight.stable is None      # no flag: the window decided
        assert scale.tare() is False                 # these scales take no commands
    else:
        assert scale.tare() is True
        assert bench.run_until(lambda: scale.state == "empty"), f"{fmt}: tared to empty"
    bench.virtual.overload = True
    if fmt != "simple":                              # no overload frame on those scales
        assert bench.run_until(lambda: scale.state == "fault"), f"{fmt}: overload is a fault"
        assert scale.stable_kg is None
    assert scale.instrument.status_dict()["parser_bugs"] == 0


def test_sics_scale_is_polled():
    bench = Bench("sics")
    bench.scale.instrument.connect()
    bench.scale.instrument.step()                    # the first turn polls at once
    assert bench.line.read_commands() == b"SI\r\n"
    bench.scale.instrument.step()                    # 0 s later: not due yet
    assert bench.line.read_commands() == b""
    bench.now += 0.02
    bench.scale.instrument.step()
    assert bench.line.read_commands() == b"SI\r\n"


def test_scale_that_stops_talking_is_not_stable():
    now = [0.0]
    line = FakeLine()
    instrument = SerialInstrument("scale", line.path, "ad", transport=line)
    scale = Scale(instrument, tracker(window=0.0), clock=lambda: now[0], stale_after_s=2.0)
    assert instrument.connect()
    line.write(ad_frame("ST", 20.0))
    instrument.step()
    assert scale.state == "stable" and scale.stable_kg == D("20")
    now[0] = 2.5
    assert scale.state == "no_data" and scale.stable_kg is None


def test_instrument_error_status_resets_stability():
    line = FakeLine()
    instrument = SerialInstrument("scale", line.path, "sics", transport=line)
    scale = Scale(instrument, tracker(window=0.0))
    assert instrument.connect()
    line.write(b"S S      20.00 kg\r\n")
    instrument.step()
    assert scale.stable_kg == D("20")
    line.write(b"EL\r\n")
    instrument.step()
    assert scale.last_status == Status("error", "EL: logical error / error lógico")
    assert scale.state == "fault" and scale.stable_kg is None


def test_fake_line_feeds_the_parser_and_carries_commands():
    events = []
    line = FakeLine()
    instrument = SerialInstrument("scale", line.path, "ad", on_event=events.append, transport=line,
                                  baudrate=2400, bytesize=7, parity="E")
    assert instrument.send(b"T\r\n") is False          # not open yet
    assert instrument.connect()
    assert line.port.settings == {"timeout": 0.1, "baudrate": 2400, "bytesize": 7, "parity": "E",
                                  "stopbits": 1}
    assert instrument.command("tare") and line.read_commands() == b"T\r\n"
    assert instrument.command("analyze") is False       # an A&D scale has no such command
    line.write(ad_frame("ST", 15.25)[:7])                # a frame split across two reads
    assert instrument.step() == [] and events == []
    line.write(ad_frame("ST", 15.25)[7:])
    assert instrument.step() == [Weight(D("15.25"), True, "ok", "gross")]
    assert events == [Weight(D("15.25"), True, "ok", "gross")]
    assert instrument.status_dict()["frames"] == 1


def test_fake_line_unplugged_disconnects_once_and_reconnects():
    statuses = []
    line = FakeLine()
    instrument = SerialInstrument("scale", line.path, "ad", transport=line,
                                  on_status=lambda name, state: statuses.append(state))
    assert instrument.connect()
    line.unplug()
    with pytest.raises(Exception, match="vanished"):
        instrument.step()
    instrument.connected = False                     # what the reader thread does on a loss
    assert not instrument.connect() and not instrument.connect()
    assert statuses == ["connected", "disconnected"] and instrument.reopen_count == 2
    line.plug()
    assert instrument.connect() and statuses[-1] == "connected" and line.opened == 2


def test_a_parser_bug_is_loud_at_the_device(caplog):
    class Broken(ADParser):
        def parse_line(self, line):
            raise IndexError("deliberate")

    events = []
    line = FakeLine()
    instrument = SerialInstrument("scale", line.path, "ad", on_event=events.append, transport=line)
    instrument.parser = Broken()
    assert instrument.connect()
    line.write(b"ST,+00012.34  kg\r\n")
    with caplog.at_level(logging.DEBUG):
        instrument.step()
    assert [type(e) for e in events] == [ParserBug]
    status = instrument.status_dict()
    assert (status["parser_bugs"], status["parse_errors"]) == (1, 0)
    assert instrument.parser_bugs == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and repr(b"ST,+00012.34  kg") in errors[0].getMessage()


# -- pyserial's real path, over a pseudo-terminal -----------------------------------
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


def test_scale_unplugged_and_plugged_back_reopens_with_backoff(tmp_path):
    port, virtual, scale, statuses = scale_on_pty(tmp_path, "ad")
    try:
        virtual.place(20.0)
        wait_until(lambda: scale.stable_kg is not None, 5, 0.01)
        assert scale.tare() is True                     # a command over the real port
        wait_until(lambda: any(b"T\r\n" in c for c in virtual.commands_seen), 5, 0.01, "tare seen")
        port.unplug()
        wait_until(lambda: scale.state == "disconnected", 5, 0.01)
        assert scale.stable_kg is None                 # never a weight from a vanished scale
        time.sleep(0.5)                                 # several failed reopen attempts
        attempts = scale.instrument.reopen_count
        assert attempts >= 2
        port.plug()
        virtual.tare_kg = 0.0
        wait_until(lambda: scale.stable_kg is not None, 10, 0.02, "weight after replug")
        assert statuses.count("disconnected") == 1     # said once, not per attempt
        assert statuses[-1] == "connected"
    finally:
        scale.instrument.stop()
        virtual.stop()
        port.unplug()


# -- analyzers ----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ANALYSIS_FORMATS)
def test_analyzer_formats_on_a_fake_line(fmt):
    line = FakeLine("fake://analyzer")
    virtual = VirtualDensimeter(line, fmt)
    densimeter = Densimeter.from_config(DensimeterConfig(port=line.path, format=fmt), transport=line)
    assert densimeter.instrument.connect()
    virtual.measure(1.0305, 18.0, fat_pct=3.9, snf_pct=8.7)
    densimeter.instrument.step()
    reading = densimeter.latest.analysis
    assert reading.density_g_ml == D("1.0305") and densimeter.latest.number == 0
    if fmt != "bridge":
        assert reading.fat_pct == D("3.90") and reading.snf_pct == D("8.70")
    if densimeter.needs_trigger:
        # Asked again, the analyzer answers with a new reading.
        assert densimeter.start_analysis() is True
        virtual.answer_requests()
        densimeter.instrument.step()
        assert densimeter.latest.number == 1
    else:
        assert densimeter.start_analysis() is False and line.read_commands() == b""


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
