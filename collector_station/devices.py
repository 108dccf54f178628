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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

import serial

from .protocols import Analysis, Event, ParseError, Weight, make_parser

log = logging.getLogger(__name__)


class SerialInstrument:
    """Reads one serial instrument in a thread and hands its events to `on_event`."""

    def __init__(self, name: str, port: str, fmt: str, *, baudrate: int = 9600, bytesize: int = 8,
                 parity: str = "N", stopbits: int = 1, reopen_max_s: float = 30.0,
                 on_event: Callable[[Event], None] | None = None,
                 on_status: Callable[[str, str], None] | None = None) -> None:
        self.name = name
        self.port = port
        self.format = fmt
        self.settings = dict(baudrate=baudrate, bytesize=bytesize, parity=parity, stopbits=stopbits)
        self.reopen_max_s = reopen_max_s
        self.parser = make_parser(fmt)
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

    def start(self) -> "SerialInstrument":
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
            try:
                while not self._stop.is_set():
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
    that claims stability early is not recorded. Overload, underload, error
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
        if not weight.stable:
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

    def _reset(self, state: str) -> str:
        self.state, self.stable_kg = state, None
        self._since = self._low = self._high = None
        return state


class Scale:
    """The bench scale: latest state and stable weight, from a serial instrument."""

    def __init__(self, instrument: SerialInstrument, tracker: StabilityTracker,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.instrument = instrument
        self.tracker = tracker
        self.clock = clock
        self.last_weight: Weight | None = None
        self.changed = threading.Condition()
        instrument.on_event = self._on_event

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Weight):
            with self.changed:
                self.last_weight = event
                self.tracker.update(event, self.clock())
                self.changed.notify_all()

    @property
    def state(self) -> str:
        return self.tracker.state if self.instrument.connected else "disconnected"

    @property
    def stable_kg(self) -> Decimal | None:
        return self.tracker.stable_kg if self.instrument.connected else None


@dataclass(frozen=True)
class TimedAnalysis:
    analysis: Analysis
    received_s: float       # monotonic time of arrival
    number: int             # how many readings came before it (0-based)


class Densimeter:
    """A densimeter or analyzer: the latest reading with its arrival time."""

    def __init__(self, instrument: SerialInstrument,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.instrument = instrument
        self.clock = clock
        self.latest: TimedAnalysis | None = None
        self._count = 0
        instrument.on_event = self._on_event

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Analysis) and event.density_g_ml is not None:
            self.latest = TimedAnalysis(event, self.clock(), self._count)
            self._count += 1


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
    """One probe in a 1-Wire folder (sysfs `w1_slave`, or the newer `temperature`)."""

    def __init__(self, w1_dir: str | Path, sensor_id: str, retries: int = 3) -> None:
        self.path = Path(w1_dir) / sensor_id
        self.retries = retries
        self.last_error = ""

    def read_c(self) -> float | None:
        """A temperature in °C, or None with `last_error` saying why."""
        if not self.path.is_dir():
            self.last_error = "vanished"
            return None
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
                self.last_error = ""
                return value
            self.last_error = reason
        return None
