"""The sensor bridge's MicroPython logic, run on the host under CPython with
fake `machine`, `onewire` and `ds18x20` modules; its lines go through the
station's own bridge parser."""

import runpy
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest

from collector_station.instruments.protocols import (
    BridgeSample,
    LoadCellCalibration,
    Status,
    make_parser,
)

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
sys.path.insert(0, str(FIRMWARE))
import bridge_core


class FakeHX711:
    """The chip's side of the two wires: DOUT low when a sample is ready,
    then one bit per SCK pulse, MSB first; a 25th pulse ends the read."""

    def __init__(self):
        self.samples = []
        self.pulses = 0
        self.reading = None
        self.connected = True
        self.sck = types.SimpleNamespace(value=self._sck)
        self.dout = types.SimpleNamespace(value=self._dout)
        self._level = 0

    def _sck(self, level=None):
        if level == 1 and self._level == 0:
            if self.reading is None and self.samples:
                self.reading = self.samples.pop(0) & 0xFFFFFF
                self.pulses = 0
            self.pulses += 1
            if self.pulses == 25:
                self.reading = None
        if level is not None:
            self._level = level
        return self._level

    def _dout(self):
        if not self.connected:
            return 1
        if self.reading is not None and 1 <= self.pulses <= 24:
            return (self.reading >> (24 - self.pulses)) & 1
        return 0 if self.samples else 1


class FakeSensors:
    def __init__(self, roms, temps):
        self.roms, self.temps, self.conversions = roms, temps, 0

    def scan(self):
        return list(self.roms)

    def convert_temp(self):
        self.conversions += 1

    def read_temp(self, rom):
        value = self.temps[bytes(rom)]
        if isinstance(value, Exception):
            raise value
        return value


ROM = bytes([0x28, 0x2c, 0x1b, 0x5a, 0x07, 0x00, 0x00, 0x9f])
ROM2 = bytes([0x28, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11])


def parse(lines):
    parser = make_parser("bridge")
    events = parser.feed(b"".join(lines))
    assert parser.errors == 0, events
    return events, parser


def test_rom_id_matches_the_linux_w1_name():
    assert bridge_core.rom_id(ROM) == "28-0000075a1b2c"


def test_frame_is_the_station_format():
    from collector_station.instruments.protocols.bridge import frame
    assert bridge_core.frame("LC", 7, 1000, -5) == frame("LC", 7, 1000, -5)


def test_load_cell_samples_are_checksummed_and_sequenced():
    chip = FakeHX711()
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout))
    chip.samples = [84210, -8388608, 8388607, -1]
    lines = []
    for t in range(0, 1000, 10):
        lines += bridge.poll(t)
    events, parser = parse(lines)
    assert events[0] == Status("bridge_started", bridge_core.VERSION)
    samples = [e for e in events if isinstance(e, BridgeSample)]
    assert [s.raw for s in samples] == [84210, -8388608, 8388607, -1]
    assert [s.seq for s in samples] == [1, 2, 3, 4] and parser.lost_lines == 0
    assert samples[1].uptime_ms - samples[0].uptime_ms >= bridge_core.HX711_PERIOD_MS
    # Calibration is the host's: the firmware sends counts, the station makes kg.
    cal = LoadCellCalibration(Decimal(21000), 84210)
    assert cal.kg(samples[0].raw) == 0


def test_unplugged_amplifier_is_reported_once():
    chip = FakeHX711()
    chip.connected = False
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout))
    lines = []
    for t in range(0, 3000, 10):
        lines += bridge.poll(t)
    events, _ = parse(lines)
    assert [e for e in events if isinstance(e, Status)][1:] == [Status("bridge_error", "hx711_timeout")]
    chip.connected = True
    chip.samples = [100]
    events, _ = parse(bridge.poll(3100))
    assert events[0].raw == 100


def test_temperatures_every_period_after_conversion_and_crc_errors():
    chip = FakeHX711()
    sensors = FakeSensors([ROM, ROM2], {ROM: 4.125, ROM2: OSError("CRC error")})
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout), sensors)
    lines = []
    for t in range(0, 4800, 50):
        lines += bridge.poll(t)
    events, _ = parse(lines)
    temps = [e for e in events if isinstance(e, BridgeSample) and e.sensor == "temperature"]
    assert [(t.channel, t.raw) for t in temps] == [("28-0000075a1b2c", 4125)] * 3
    assert temps[0].uptime_ms >= bridge_core.CONVERSION_MS
    assert temps[1].uptime_ms - temps[0].uptime_ms == bridge_core.TEMP_PERIOD_MS
    assert Status("bridge_error", "crc_28-000000000001") in events
    assert sensors.conversions == 3


def test_no_probes_found():
    chip = FakeHX711()
    events, _ = parse(bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout),
                                         FakeSensors([], {})).poll(0))
    assert Status("bridge_error", "no_probes") in events


def test_sequence_wraps_at_65536():
    chip = FakeHX711()
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout))
    bridge.poll(0)
    bridge.seq = 65535
    chip.samples = [1, 2]
    events, parser = parse(bridge.poll(1000) + bridge.poll(1100))
    assert [e.seq for e in events] == [65535, 0] and parser.lost_lines == 0


def test_main_runs_on_fake_micropython(monkeypatch, capsysbinary):
    chip = FakeHX711()
    chip.samples = [5000, 5001, 5002]
    written = []

    class Pin:
        OUT, IN, PULL_UP = 1, 0, 2

        def __init__(self, number, mode=None, pull=None):
            self.number = number

        def value(self, level=None):
            return chip.sck.value(level) if self.number == 2 else chip.dout.value()

    calls = {"n": 0}
    clock = {"ms": 2**30 - 250}       # the board's clock wraps during the run

    def sleep_ms(ms):
        clock["ms"] = (clock["ms"] + 100) % 2**30
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt

    fake_time = types.SimpleNamespace(ticks_ms=lambda: clock["ms"], sleep_ms=sleep_ms)
    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(Pin=Pin))
    monkeypatch.setitem(sys.modules, "onewire", types.SimpleNamespace(OneWire=lambda pin: pin))
    monkeypatch.setitem(sys.modules, "ds18x20", types.SimpleNamespace(
        DS18X20=lambda bus: FakeSensors([ROM], {ROM: 3.5})))
    out = types.SimpleNamespace(write=written.append)
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=out))
    real_time = sys.modules["time"]
    monkeypatch.setitem(sys.modules, "time", fake_time)
    try:
        with pytest.raises(KeyboardInterrupt):
            runpy.run_path(str(FIRMWARE / "main.py"))
    finally:
        sys.modules["time"] = real_time
    events, _ = parse(written)
    assert [e.raw for e in events if isinstance(e, BridgeSample)] == [5000, 5001, 5002]


# -- the clock's wrap --------------------------------------------------------------
def micropython_ticks_diff(end, start, period=2**30):
    """MicroPython's own definition (py/mphal ticks_diff, RP2040 port): the
    difference modulo the period, mapped to [-period/2, period/2)."""
    return ((end - start) & (period - 1)) - (period if ((end - start) & (period - 1)) >= period // 2 else 0)


@pytest.mark.parametrize("start", [0, 2**30 - 1, 2**30 - 250, 2**29, 12345])
@pytest.mark.parametrize("delta", [0, 1, 100, 2000, -1, -100, 2**29 - 1, -(2**29)])
def test_ticks_diff_has_micropython_semantics(start, delta):
    end = bridge_core.ticks_add(start, delta)
    assert 0 <= end < 2**30
    assert bridge_core.ticks_diff(end, start) == delta == micropython_ticks_diff(end, start)


def test_sampling_goes_on_across_the_tick_wrap():
    # 12.4 days after power-up ticks_ms() jumps from 2**30 - 1 back to 0.
    chip = FakeHX711()
    sensors = FakeSensors([ROM], {ROM: 4.0})
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout), sensors)
    chip.samples = list(range(1000, 1100))
    start = 2**30 - 3000
    lines = []
    for elapsed in range(0, 9000, 50):              # 9 s, the wrap 3 s in
        lines += bridge.poll(bridge_core.ticks_add(start, elapsed))
    events, _ = parse(lines)
    loads = [e for e in events if isinstance(e, BridgeSample) and e.sensor == "load_cell"]
    temps = [e for e in events if isinstance(e, BridgeSample) and e.sensor == "temperature"]
    after_wrap = [e for e in loads if e.uptime_ms < 2**29]
    # 10 Hz on both sides of the wrap; temperatures every 2 s throughout.
    assert len(loads) == 90 and len(after_wrap) == 60
    assert [e.raw for e in loads] == list(range(1000, 1090))
    assert len(temps) == 5 and sum(t.uptime_ms < 2**29 for t in temps) == 3
    faults = [e for e in events if isinstance(e, Status) and e.status == "bridge_error"]
    assert faults == []                                       # no false hx711_timeout


def test_the_old_subtraction_would_have_stopped(monkeypatch):
    # The test above must be able to fail: with a plain subtraction (the bug),
    # no load-cell line follows the wrap.
    monkeypatch.setattr(bridge_core, "ticks_diff", lambda end, start: end - start)
    chip = FakeHX711()
    bridge = bridge_core.Bridge(bridge_core.HX711(chip.sck, chip.dout))
    chip.samples = list(range(100))
    start = 2**30 - 1000
    lines = []
    for elapsed in range(0, 3000, 50):
        lines += bridge.poll(bridge_core.ticks_add(start, elapsed))
    events, _ = parse(lines)
    loads = [e for e in events if isinstance(e, BridgeSample) and e.sensor == "load_cell"]
    assert loads and all(e.uptime_ms >= 2**30 - 1000 for e in loads)


def test_the_station_reads_wrapped_stamps():
    line = bridge_core.frame("LC", 7, 2**30 - 1, 4242) + bridge_core.frame("LC", 8, 99, 4243)
    events, parser = parse([line])
    assert [(e.seq, e.uptime_ms, e.raw) for e in events] == [(7, 2**30 - 1, 4242), (8, 99, 4243)]
    assert parser.lost_lines == 0
