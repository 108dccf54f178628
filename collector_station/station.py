"""The bench service: instruments in, deliveries and tank samples out.

The imperative shell around the pure parts (protocols, quality, intake):
threads read the instruments, one thread runs the intake flow, one samples
the tank probes, and the publisher drains the outbox to MQTT. A delivery is
committed to the outbox before the operator sees it confirmed.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from .config import StationConfig
from .devices import DS18B20, Densimeter, Scale, SerialInstrument, StabilityTracker
from .i18n import text
from .intake import IntakeFlow, build_delivery, valid_producer_code
from .outbox import Outbox
from .protocols.ad import COMMANDS as AD_COMMANDS
from .publisher import OutboxPublisher, station_topic

log = logging.getLogger(__name__)


class Station:
    """One intake bench. `clock` gives the aware time stamped on records
    (the demo replays a simulated fortnight through it)."""

    def __init__(self, config: StationConfig, *, clock: Callable[[], datetime] | None = None,
                 display: Callable[[str], None] = print) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(config.zone))
        self.display = display
        self.lang = config.language
        self.outbox = Outbox(Path(config.data_dir) / "station.sqlite3")
        self.publisher = OutboxPublisher(
            self.outbox, center=config.center, station=config.station,
            host=config.mqtt.host, port=config.mqtt.port, keepalive_s=config.mqtt.keepalive_s,
            username=config.mqtt.username, password=config.mqtt.password,
            max_inflight=config.mqtt.max_inflight, reconnect_max_s=config.mqtt.reconnect_max_s)
        sc = config.scale
        self.scale = Scale(
            SerialInstrument("scale", sc.port, sc.format, baudrate=sc.baudrate, bytesize=sc.bytesize,
                             parity=sc.parity, stopbits=sc.stopbits, reopen_max_s=sc.reopen_max_s,
                             on_status=self._device_status),
            StabilityTracker(sc.stable_window_s, sc.stable_tolerance_kg, sc.empty_below_kg,
                             sc.max_capacity_kg))
        dc = config.densimeter
        self.densimeter = None if dc is None else Densimeter(
            SerialInstrument("densimeter", dc.port, dc.format, baudrate=dc.baudrate,
                             bytesize=dc.bytesize, parity=dc.parity, stopbits=dc.stopbits,
                             reopen_max_s=dc.reopen_max_s, on_status=self._device_status))
        self.flow = IntakeFlow(densimeter=dc is not None,
                               density_max_age_s=dc.max_age_s if dc else 0.0)
        self.limits = config.quality.limits()
        tc = config.thermometers
        self.probes = {tank: DS18B20(tc.w1_dir, sensor) for tank, sensor in tc.tanks.items()}
        self.recorded = threading.Condition()
        self.last_delivery: dict | None = None
        self._last_step = ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "Station":
        self.publisher.start()
        self.scale.instrument.start()
        if self.densimeter:
            self.densimeter.instrument.start()
        self._spawn(self._intake_loop, "intake")
        if self.probes:
            self._spawn(self._tank_loop, "tanks")
        self.show("ready", station=self.config.station, center=self.config.center)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.scale.changed:
            self.scale.changed.notify_all()
        for thread in self._threads:
            thread.join(5)
        self.scale.instrument.stop()
        if self.densimeter:
            self.densimeter.instrument.stop()
        if self.probes:
            self._queue_tank_batches(force=True)
        self.publisher.stop()
        self.outbox.close()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def show(self, key: str, **values: object) -> None:
        self.display(text(self.lang, key, **values))

    def _device_status(self, device: str, state: str) -> None:
        self.show("device_connected" if state == "connected" else "device_disconnected", device=device)

    # -- operator actions -------------------------------------------------
    def enter_producer(self, code: str) -> bool:
        code = code.strip()
        if not valid_producer_code(code):
            self.show("bad_code", code=code)
            return False
        with self.scale.changed:
            self.flow.enter_producer(code)
            self.scale.changed.notify_all()
        self.show("producer_set", producer=code)
        return True

    def tare(self) -> bool:
        return self.scale.instrument.send(AD_COMMANDS["tare"])

    # -- intake -----------------------------------------------------------
    def _intake_loop(self) -> None:
        while not self._stop.is_set():
            with self.scale.changed:
                self.scale.changed.wait(0.2)
            try:
                self._intake_step()
            except Exception:  # a bug here must not stop the bench
                log.exception("intake step failed")

    def _intake_step(self) -> None:
        analysis = self.densimeter.latest if self.densimeter else None
        with self.scale.changed:
            step = self.flow.next_step(self.scale.state, self.scale.stable_kg, analysis,
                                       time.monotonic())
            if step != "record":
                if step != self._last_step and step in ("remove_can", "wait_density"):
                    self.show(step)
                if self.scale.state == "fault" and self._last_step != "fault":
                    self.show("scale_fault")
                    step = "fault"
                self._last_step = step
                return
            weight_kg = self.scale.stable_kg
            producer = self.flow.producer
            self.flow.recorded(analysis)
        record = build_delivery(
            center=self.config.center, station=self.config.station, producer=producer,
            ts=self.clock(), weight_kg=weight_kg, analysis=analysis,
            formula=self.config.quality.formula, limits=self.limits,
            operator=self.config.operator)
        payload = self.outbox.record_delivery(
            record, station_topic(self.config.center, self.config.station, "delivery"))
        self.publisher.wake()
        self._last_step = "record"
        flags = f" — {', '.join(payload['flags'])}" if payload["flags"] else ""
        self.show("recorded", seq=payload["seq"], producer=producer, weight_kg=payload["weight_kg"],
                  liters=payload["liters"], density_15c=payload["density_15c"],
                  solids_pct=payload["solids_pct"], milk_temp_c=payload["milk_temp_c"], flags=flags)
        with self.recorded:
            self.last_delivery = payload
            self.recorded.notify_all()

    def wait_for_delivery(self, after_seq: int, timeout_s: float) -> dict | None:
        """Block until a delivery with seq > after_seq is recorded (demo, tests)."""
        deadline = time.monotonic() + timeout_s
        with self.recorded:
            while self.last_delivery is None or self.last_delivery["seq"] <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.recorded.wait(remaining)
            return self.last_delivery

    # -- tanks ------------------------------------------------------------
    def sample_tanks(self) -> None:
        ts = self.clock().isoformat(timespec="milliseconds")
        for tank, probe in self.probes.items():
            temp_c = probe.read_c()
            if temp_c is None:
                log.warning("tank %s: no valid reading (%s)", tank, probe.last_error)
            self.outbox.add_tank_sample(tank, ts, temp_c)
        self._queue_tank_batches()

    def _queue_tank_batches(self, force: bool = False) -> None:
        envelope = {"center": self.config.center, "station": self.config.station}
        queued = self.outbox.batch_tank_samples(
            lambda tank: station_topic(self.config.center, self.config.station, "tank", tank),
            envelope, self.config.thermometers.batch_size, force=force)
        if queued:
            self.publisher.wake()

    def _tank_loop(self) -> None:
        while not self._stop.wait(self.config.thermometers.interval_s):
            try:
                self.sample_tanks()
            except Exception:
                log.exception("tank sampling failed")
