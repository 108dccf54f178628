"""Instruments at the bench, each a small class over a swappable transport.

The transport is pyserial's `serial_for_url`, so a real port
(`/dev/milk-scale`), a pseudo-terminal from `collector-station simulate` or
`loop://` in a test all work unchanged. The protocol is a sans-IO parser
(protocols/); a device only moves bytes and keeps the port open: a port that
disappears (USB unplugged) is reopened with backoff while the station runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import serial

from collector_station.instruments.protocols import (
    Analysis,
    BridgeSample,
    Event,
    LoadCellCalibration,
    ParseError,
    Status,
    Weight,
    make_parser,
)

log = logging.getLogger(__name__)


class SerialInstrument:
    """Reads one serial instrument in a thread and hands its events to `on_event`."""

    def __init__(self, name: str, port: str, fmt: str, *, baudrate: int = 9600, bytesize: int = 8,
                 parity: str = "N", stopbits: int = 1, reopen_max_s: float = 30.0,
                 on_event: Callable[[Event], None] | None = None,
                 on_status: Callable[[str, str], None] | None = None,
                 poll_interval_s: float = 0.2) -> None:
        self.name = name
        self.port = port
        self.format = fmt
        self.settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits)
        self.reopen_max_s = reopen_max_s
        self.parser = make_parser(fmt)
        # Instruments that only answer requests (MT-SICS) are polled; `None`
        # for those that stream.
        self.poll = self.parser.poll
        self.poll_interval_s = poll_interval_s
        self.on_event = on_event or (lambda e: None)
        self.on_status = on_status or (lambda name, state: None)
        self.connected = False
        self.reopen_count = 0
        self._serial: serial.SerialBase | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    @property
    def parse_errors(self) -> int:
        return self.parser.errors

    @property
    def commands(self) -> dict[str, bytes]:
        """What this instrument accepts (`tare`, `zero`, `read`, `analyze`)."""
        return self.parser.commands

    def command(self, action: str) -> bool:
        """Send a named command; False if the instrument lacks it or the port is closed."""
        data = self.parser.commands.get(action)
        return data is not None and self.send(data)

    def status_dict(self) -> dict:
        """For the station's status payload: is the device there, how healthy."""
        return {"device": self.name, "connected": self.connected, "port": self.port,
                "format": self.format, "reopen_count": self.reopen_count,
                "parse_errors": self.parser.errors, "frames": self.parser.frames}

    def start(self) -> SerialInstrument:
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._close()

    def send(self, command: bytes) -> bool:
        """Send a command (tare, zero, read); False when the port is not open."""
        with self._write_lock:
            if self._serial is None:
                return False
            try:
                self._serial.write(command)
                return True
            except (serial.SerialException, OSError):
                return False

    def _open(self) -> None:
        self._serial = serial.serial_for_url(self.port, timeout=0.1, **self.settings)

    def _close(self) -> None:
        with self._write_lock:
            if self._serial is not None:
                try:
                    self._serial.close()
                except (serial.SerialException, OSError):
                    pass
                self._serial = None

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                self._open()
            # termios.error is no OSError: a port vanishing while it is being
            # configured raises it. Nothing may end this thread.
            except Exception as exc:
                if self.connected or self.reopen_count == 0:
                    log.warning("%s: cannot open %s: %s", self.name, self.port, exc)
                    self.on_status(self.name, "disconnected")
                self.connected = False
                self.reopen_count += 1
                self._stop.wait(delay)
                delay = min(delay * 2, self.reopen_max_s)
                continue
            delay = 0.2
            self.connected = True
            self.on_status(self.name, "connected")
            # A new connection may start mid-frame: the parser resynchronises.
            last_poll = 0.0
            try:
                while not self._stop.is_set():
                    if self.poll and time.monotonic() - last_poll >= self.poll_interval_s:
                        last_poll = time.monotonic()
                        self.send(self.poll)
                    # Whatever is waiting, or block for one byte up to the
                    # timeout: read(256) would sit until 256 bytes arrived.
                    data = self._serial.read(self._serial.in_waiting or 1)
                    if data:
                        for event in self.parser.feed(data):
                            if isinstance(event, ParseError):
                                log.debug("%s: %s %r", self.name, event.reason, event.raw[:40])
                            self.on_event(event)
                    elif not os.path.exists(self.port) and "://" not in self.port:
                        raise serial.SerialException("port vanished")
            except Exception as exc:
                log.warning("%s: lost %s: %s", self.name, self.port, exc)
                self.connected = False
                self.on_status(self.name, "disconnected")
                self.reopen_count += 1
            finally:
                self._close()


class StabilityTracker:
    """Decides when a weight is stable enough to make a delivery (pure logic).

    The indicator's own flag (ST) must say stable *and* the readings must agree
    within `tolerance_kg` for `window_s`, so a can still swinging on a scale
    that claims stability early is not recorded. A source with no flag
    (`Weight.stable is None`: simple milk-scale strings, the HX711 bridge)
    is judged by the window and tolerance alone. Overload, underload, error
    and negative weights reset it.
    """

    def __init__(self, window_s: float, tolerance_kg: Decimal, empty_below_kg: Decimal,
                 max_capacity_kg: Decimal = Decimal("1e9")) -> None:
        self.window_s = window_s
        self.tolerance_kg = tolerance_kg
        self.empty_below_kg = empty_below_kg
        self.max_capacity_kg = max_capacity_kg
        self.state = "unknown"          # unknown | empty | moving | stable | fault
        self.stable_kg: Decimal | None = None
        self._since: float | None = None
        self._low = self._high = None

    def update(self, weight: Weight, now_s: float) -> str:
        if weight.status != "ok" or weight.value_kg is None or weight.value_kg < 0 \
                or weight.value_kg > self.max_capacity_kg:
            return self._reset("fault")
        value = weight.value_kg
        if value < self.empty_below_kg:
            return self._reset("empty")
        if weight.stable is False:
            return self._reset("moving")
        if self._since is None or max(self._high, value) - min(self._low, value) > self.tolerance_kg:
            self._since, self._low, self._high = now_s, value, value
        else:
            self._low, self._high = min(self._low, value), max(self._high, value)
        if now_s - self._since >= self.window_s:
            self.state, self.stable_kg = "stable", value
        else:
            self.state, self.stable_kg = "moving", None
        return self.state

    def fault(self) -> str:
        """The instrument reported an error that is not a weight (MT-SICS `EL`...)."""
        return self._reset("fault")

    def _reset(self, state: str) -> str:
        self.state, self.stable_kg = state, None
        self._since = self._low = self._high = None
        return state


# The HX711 clamps at its 24-bit limits: a load cell past its range.
HX711_MAX, HX711_MIN = 0x7FFFFF, -0x800000


class Scale:
    """The bench scale: latest state and stable weight, from a serial instrument.

    With `calibration`, raw HX711 samples from the bridge become weights here
    (host-side calibration); tare and zero are then host-side too. After
    `stale_after_s` without a weight the state is `no_data`: a scale that
    stopped talking is never still "stable".
    """

    def __init__(self, instrument: SerialInstrument, tracker: StabilityTracker,
                 clock: Callable[[], float] = time.monotonic, *,
                 calibration: LoadCellCalibration | None = None,
                 stale_after_s: float | None = 5.0) -> None:
        self.instrument = instrument
        self.tracker = tracker
        self.clock = clock
        self.calibration = calibration
        self.stale_after_s = stale_after_s
        self.last_weight: Weight | None = None
        self.last_status: Status | None = None
        self.empties = 0    # transitions into "empty": a can taken off is never missed
        self.changed = threading.Condition()
        self._last_at: float | None = None
        self._last_raw: int | None = None
        self._tare_counts = 0
        instrument.on_event = self._on_event

    @classmethod
    def from_config(cls, sc, on_status: Callable[[str, str], None] | None = None,
                    name: str = "scale") -> Scale:
        """The scale described by a `[scale]` config section."""
        calibration = None
        if sc.format == "bridge":
            calibration = LoadCellCalibration(sc.counts_per_kg, sc.offset_counts,
                                              sc.resolution_kg)
        return cls(SerialInstrument(name, sc.port, sc.format, baudrate=sc.baudrate,
                                    bytesize=sc.bytesize, parity=sc.parity, stopbits=sc.stopbits,
                                    reopen_max_s=sc.reopen_max_s, on_status=on_status,
                                    poll_interval_s=sc.poll_interval_s),
                   StabilityTracker(sc.stable_window_s, sc.stable_tolerance_kg, sc.empty_below_kg,
                                    sc.max_capacity_kg),
                   calibration=calibration, stale_after_s=sc.stale_after_s)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BridgeSample):
            if event.sensor != "load_cell" or self.calibration is None:
                return
            if event.raw >= HX711_MAX:
                event = Weight(None, False, "overload")
            elif event.raw <= HX711_MIN:
                event = Weight(None, False, "underload")
            else:
                self._last_raw = event.raw
                event = self.calibration.weight(event.raw, self._tare_counts)
                if self._tare_counts:
                    event = Weight(event.value_kg, None, "ok", "net")
        if isinstance(event, Weight):
            with self.changed:
                self.last_weight = event
                self._last_at = self.clock()
                before = self.tracker.state
                if self.tracker.update(event, self._last_at) == "empty" and before != "empty":
                    self.empties += 1
                self.changed.notify_all()
        elif isinstance(event, Status):
            self.last_status = event
            if event.status in ("error", "bridge_error"):
                with self.changed:
                    self.tracker.fault()
                    self.changed.notify_all()

    def _fresh(self) -> bool:
        if self.stale_after_s is None:
            return True
        return self._last_at is not None and self.clock() - self._last_at <= self.stale_after_s

    @property
    def state(self) -> str:
        """unknown | empty | moving | stable | fault | no_data | disconnected"""
        if not self.instrument.connected:
            return "disconnected"
        if self._last_at is not None and not self._fresh():
            return "no_data"
        return self.tracker.state

    @property
    def stable_kg(self) -> Decimal | None:
        if not self.instrument.connected or not self._fresh():
            return None
        return self.tracker.stable_kg

    def tare(self) -> bool:
        """Tare: by the instrument's command, or host-side for a raw load cell."""
        if self.calibration is not None:
            if self._last_raw is None:
                return False
            self._tare_counts = self._last_raw - self.calibration.offset_counts
            return True
        return self.instrument.command("tare")

    def zero(self) -> bool:
        """Zero the scale (clears a host-side tare too)."""
        if self.calibration is not None:
            if self._last_raw is None:
                return False
            self.calibration = LoadCellCalibration(self.calibration.counts_per_kg, self._last_raw,
                                                   self.calibration.resolution_kg)
            self._tare_counts = 0
            return True
        return self.instrument.command("zero")


@dataclass(frozen=True)
class TimedAnalysis:
    analysis: Analysis
    received_s: float       # monotonic time of arrival
    number: int             # how many readings came before it (0-based)


class Densimeter:
    """A densimeter or analyzer: the latest reading with its arrival time.

    Notices (cleaning, rinse, busy, an analyzer error) are kept in
    `last_status`; they never replace a reading.
    """

    def __init__(self, instrument: SerialInstrument,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.instrument = instrument
        self.clock = clock
        self.latest: TimedAnalysis | None = None
        self.last_status: Status | None = None
        self._count = 0
        instrument.on_event = self._on_event

    @classmethod
    def from_config(cls, dc, on_status: Callable[[str, str], None] | None = None,
                    name: str = "densimeter") -> Densimeter:
        """The densimeter or analyzer described by a `[densimeter]` config section."""
        return cls(SerialInstrument(name, dc.port, dc.format, baudrate=dc.baudrate,
                                    bytesize=dc.bytesize, parity=dc.parity, stopbits=dc.stopbits,
                                    reopen_max_s=dc.reopen_max_s, on_status=on_status,
                                    poll_interval_s=dc.poll_interval_s))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Analysis) and event.density_g_ml is not None:
            self.latest = TimedAnalysis(event, self.clock(), self._count)
            self._count += 1
        elif isinstance(event, Status):
            self.last_status = event

    def start_analysis(self) -> bool:
        """Ask an analyzer that needs it (Ekomilk) to analyse the sample in its cup."""
        return self.instrument.command("analyze")


Analyzer = Densimeter   # the same device class: a reading with fat, SNF... or only density


# -- DS18B20 on 1-Wire -------------------------------------------------------
POWER_ON_MILLI_C = 85000


def parse_w1_slave(text: str) -> tuple[float | None, str]:
    """Decode a `w1_slave` read: (temp_c, "ok") or (None, reason).

    The 85 °C power-on value is not a reading; a `crc=.. NO` line is noise.
    """
    lines = text.strip().splitlines()
    if len(lines) < 2 or "crc=" not in lines[0]:
        return None, "malformed"
    if not lines[0].rstrip().endswith("YES"):
        return None, "crc"
    _, sep, milli = lines[1].rpartition("t=")
    if not sep:
        return None, "malformed"
    try:
        value = int(milli.strip())
    except ValueError:
        return None, "malformed"
    if value == POWER_ON_MILLI_C:
        return None, "power_on_value"
    return value / 1000.0, "ok"


class DS18B20:
    """One probe in a 1-Wire folder (sysfs `w1_slave`, or the newer `temperature`).

    `read_c` gives °C or None with `last_error`: `crc` (retried `retries`
    times first), `power_on_value` (85 °C), `vanished` (the probe's folder
    is gone: unplugged), `unreadable`, `malformed`, or `stale`: the very
    same value for `stale_after_s` while a real probe in a tank jitters by a
    step of 1/16 °C, so a frozen value means the driver is returning the
    last conversion again.
    """

    def __init__(self, w1_dir: str | Path, sensor_id: str, retries: int = 3, *,
                 stale_after_s: float | None = 1800.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(w1_dir) / sensor_id
        self.sensor_id = sensor_id
        self.retries = retries
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.last_error = ""
        self._last_value: float | None = None
        self._same_since: float | None = None

    @property
    def fault(self) -> bool:
        return bool(self.last_error)

    def read_c(self) -> float | None:
        """A temperature in °C, or None with `last_error` saying why."""
        if not self.path.is_dir():
            self.last_error = "vanished"
            self._last_value = self._same_since = None
            return None
        value = None
        for _ in range(self.retries):
            try:
                slave = self.path / "w1_slave"
                if slave.exists():
                    value, reason = parse_w1_slave(slave.read_text())
                else:
                    milli = int((self.path / "temperature").read_text().strip())
                    value, reason = (None, "power_on_value") if milli == POWER_ON_MILLI_C else (milli / 1000.0, "ok")
            except (OSError, ValueError):
                value, reason = None, "unreadable"
            if value is not None:
                break
            self.last_error = reason
        if value is None:
            return None
        return self._check_stale(value)

    def _check_stale(self, value: float) -> float | None:
        now = self.clock()
        if value != self._last_value or self._same_since is None:
            self._last_value, self._same_since = value, now
        elif self.stale_after_s and now - self._same_since >= self.stale_after_s:
            self.last_error = "stale"
            return None
        self.last_error = ""
        return value


class TankProbes:
    """The probes of one tank (a big tank has one high and one low): the mean of
    the valid readings, with each faulty probe named in `faults`.

    Same `read_c` / `last_error` as DS18B20, so the station samples either.
    """

    def __init__(self, probes: list[DS18B20]) -> None:
        if not probes:
            raise ValueError("a tank needs at least one probe")
        self.probes = probes
        self.faults: dict[str, str] = {}
        self.last_error = ""

    def read_c(self) -> float | None:
        values, self.faults = [], {}
        for probe in self.probes:
            value = probe.read_c()
            if value is None:
                self.faults[probe.sensor_id] = probe.last_error
            else:
                values.append(value)
        self.last_error = ", ".join(f"{k}: {v}" for k, v in self.faults.items())
        if not values:
            return None
        return round(sum(values) / len(values), 3)


def tank_probes(tc) -> dict[str, TankProbes]:
    """Every tank of a `[thermometers]` config section with its probes."""
    out = {}
    for tank, ids in tc.tanks.items():
        ids = [ids] if isinstance(ids, str) else list(ids)
        out[tank] = TankProbes([DS18B20(tc.w1_dir, i, stale_after_s=tc.stale_after_s or None)
                                for i in ids])
    return out
