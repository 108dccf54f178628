"""Instruments at the bench, each a small class over a swappable transport.

The transport (transport.py) is pyserial's `serial_for_url` by default, so a
real port (`/dev/milk-scale`), a pseudo-terminal from `collector-station
simulate` or `loop://` all work unchanged, and a test passes a `FakeLine` to
drive a device synchronously. The protocol is a sans-IO parser (protocols/);
a device only moves bytes and keeps the port open: a port that disappears
(USB unplugged) is reopened with backoff while the station runs. The pure
parts live beside: stability.py (when a weight is stable), onewire.py (the
1-Wire text).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import serial

from collector_station.instruments.onewire import POWER_ON_MILLI_C, parse_w1_slave
from collector_station.instruments.protocols import (
    Analysis,
    BridgeSample,
    Event,
    LoadCellCalibration,
    ParseError,
    Status,
    TimedAnalysis,
    Weight,
    instrument,
    make_parser,
)
from collector_station.instruments.stability import StabilityTracker
from collector_station.instruments.transport import Port, Transport, open_serial

log = logging.getLogger(__name__)


class SerialInstrument:
    """Reads one serial instrument in a thread and hands its events to `on_event`.

    `start()` runs the reader thread (open, read, reopen with backoff). The
    same turns are public for a test on a FakeLine: `connect()` once, then
    `step()` after each write of the instrument.
    """

    def __init__(self, name: str, port: str, fmt: str, *, baudrate: int = 9600, bytesize: int = 8,
                 parity: str = "N", stopbits: int = 1, reopen_max_s: float = 30.0,
                 on_event: Callable[[Event], None] | None = None,
                 on_status: Callable[[str, str], None] | None = None,
                 poll_interval_s: float = 0.2, transport: Transport = open_serial,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
        self.transport = transport
        self.clock = clock
        self.connected = False
        self.reopen_count = 0
        self._serial: Port | None = None
        self._last_poll_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    @property
    def parse_errors(self) -> int:
        return self.parser.errors

    @property
    def parser_bugs(self) -> int:
        """Exceptions inside the parser: a defect of this program, not line noise."""
        return self.parser.bugs

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
                "parse_errors": self.parser.errors, "parser_bugs": self.parser.bugs,
                "frames": self.parser.frames}

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

    def connect(self) -> bool:
        """Open the port: True and "connected", or False and "disconnected"
        (said once per outage, not per attempt)."""
        try:
            self._serial = self.transport(self.port, timeout=0.1, **self.settings)
        # termios.error is no OSError: a port vanishing while it is being
        # configured raises it. Nothing may end the reader thread.
        except Exception as exc:
            if self.connected or self.reopen_count == 0:
                log.warning("%s: cannot open %s: %s", self.name, self.port, exc)
                self.on_status(self.name, "disconnected")
            self.connected = False
            self.reopen_count += 1
            return False
        self.connected = True
        self._last_poll_s = None
        self.on_status(self.name, "connected")
        return True

    def step(self) -> list[Event]:
        """One turn of the reader: poll if due, read what is waiting, hand each
        event to `on_event`. Raises when the port is lost."""
        if self.poll and (self._last_poll_s is None
                          or self.clock() - self._last_poll_s >= self.poll_interval_s):
            self._last_poll_s = self.clock()
            self.send(self.poll)
        # Whatever is waiting, or block for one byte up to the timeout:
        # read(256) would sit until 256 bytes arrived.
        data = self._serial.read(self._serial.in_waiting or 1)
        if not data:
            if not os.path.exists(self.port) and "://" not in self.port:
                raise serial.SerialException("port vanished")
            return []
        events = self.parser.feed(data)
        for event in events:
            if isinstance(event, ParseError):
                log.debug("%s: %s %r", self.name, event.reason, event.raw[:40])
            self.on_event(event)
        return events

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
            if not self.connect():
                self._stop.wait(delay)
                delay = min(delay * 2, self.reopen_max_s)
                continue
            delay = 0.2
            # A new connection may start mid-frame: the parser resynchronises.
            try:
                while not self._stop.is_set():
                    self.step()
            except Exception as exc:
                log.warning("%s: lost %s: %s", self.name, self.port, exc)
                self.connected = False
                self.on_status(self.name, "disconnected")
                self.reopen_count += 1
            finally:
                self._close()


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
        # Who else wants the load cell's raw counts (calibration: RawCounts).
        self.raw_listeners: list[Callable[[int], None]] = []
        instrument.on_event = self._on_event

    @classmethod
    def from_config(cls, sc, on_status: Callable[[str, str], None] | None = None,
                    name: str = "scale", *, transport: Transport = open_serial,
                    clock: Callable[[], float] = time.monotonic) -> Scale:
        """The scale described by a `[scale]` config section (`transport` and
        `clock` are for tests: a FakeLine and a clock they turn)."""
        calibration = None
        if instrument(sc.format).calibrated_on_host:
            calibration = LoadCellCalibration(sc.counts_per_kg, sc.offset_counts,
                                              sc.resolution_kg)
        return cls(SerialInstrument(name, sc.port, sc.format, baudrate=sc.baudrate,
                                    bytesize=sc.bytesize, parity=sc.parity, stopbits=sc.stopbits,
                                    reopen_max_s=sc.reopen_max_s, on_status=on_status,
                                    poll_interval_s=sc.poll_interval_s, transport=transport,
                                    clock=clock),
                   StabilityTracker(sc.stable_window_s, sc.stable_tolerance_kg, sc.empty_below_kg,
                                    sc.max_capacity_kg),
                   clock, calibration=calibration, stale_after_s=sc.stale_after_s)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BridgeSample):
            if event.sensor != "load_cell" or self.calibration is None:
                return
            for listener in self.raw_listeners:
                listener(event.raw)
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
    def fault_reason(self) -> str | None:
        """Why the scale is in `fault` (overload, underload, error, over_capacity)."""
        return self.tracker.fault_reason if self.state == "fault" else None

    @property
    def state(self) -> str:
        """unknown | empty | negative | moving | stable | fault | no_data | disconnected"""
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
                    name: str = "densimeter", *, transport: Transport = open_serial,
                    clock: Callable[[], float] = time.monotonic) -> Densimeter:
        """The densimeter or analyzer described by a `[densimeter]` config section."""
        return cls(SerialInstrument(name, dc.port, dc.format, baudrate=dc.baudrate,
                                    bytesize=dc.bytesize, parity=dc.parity, stopbits=dc.stopbits,
                                    reopen_max_s=dc.reopen_max_s, on_status=on_status,
                                    poll_interval_s=dc.poll_interval_s, transport=transport,
                                    clock=clock), clock)

    @property
    def needs_trigger(self) -> bool:
        """The analyzer measures only when asked (it declares an `analyze` command)."""
        return "analyze" in self.instrument.commands

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Analysis) and event.density_g_ml is not None:
            self.latest = TimedAnalysis(event, self.clock(), self._count)
            self._count += 1
        elif isinstance(event, Status):
            self.last_status = event

    def start_analysis(self) -> bool:
        """Ask an analyzer that needs it (`needs_trigger`) to analyse the sample in
        its cup; False when it takes no such command or the port is closed."""
        return self.instrument.command("analyze")


Analyzer = Densimeter   # the same device class: a reading with fat, SNF... or only density


# -- DS18B20 on 1-Wire -------------------------------------------------------
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
