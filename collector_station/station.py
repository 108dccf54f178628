"""The bench service: instruments in, deliveries and tank samples out.

The imperative shell around the pure parts (protocols, quality, intake,
integrity): threads read the instruments, one thread runs the intake flow,
one samples the tank probes, and the publisher drains the outbox to MQTT. A
delivery is sealed into the hash chain and committed to the outbox before
the operator sees it confirmed or its receipt is printed.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from milk_common.contract import station_topic
from milk_common.integrity import parse_key

from collector_station.coldchain import TankMonitor
from collector_station.config import StationConfig
from collector_station.instruments.devices import Densimeter, Scale, tank_probes
from collector_station.i18n import reason_text, text
from collector_station.intake.flow import AcceptanceRules, IntakeFlow, assess_reading, build_delivery, valid_producer_code
from collector_station.outbox.store import Outbox
from collector_station.panel import BenchPanel
from collector_station.printer import open_printer
from collector_station.outbox.publisher import OutboxPublisher
from collector_station.intake.receipt import render_receipt, render_shift_summary
from collector_station.intake.registry import Registry
from collector_station.intake.shifts import shift_of, summarize

log = logging.getLogger(__name__)

# Deliveries read back to summarise a shift (one bench takes one every
# 30-60 s: a 3-hour shift is under 400).
SHIFT_LOOKBACK = 2000


def load_station_key(config: StationConfig) -> bytes:
    """The HMAC key: from the config, its key file, or generated once in data_dir."""
    ic = config.integrity
    if ic.hmac_key:
        return parse_key(ic.hmac_key)
    path = Path(ic.hmac_key_file) if ic.hmac_key_file else Path(config.data_dir) / "station.key"
    if not path.exists():
        if ic.hmac_key_file:
            from collector_station.errors import UserError
            raise UserError(f"[integrity] hmac_key_file: {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        log.warning("generated the station's signing key in %s: give it to the hub "
                    "([integrity.keys] in hub.toml)", path)
    return parse_key(path.read_text())


class Station:
    """One intake bench. `clock` gives the aware time stamped on records
    (the demo replays a simulated fortnight through it); `printer` receives
    each receipt's text (default: the display)."""

    def __init__(self, config: StationConfig, *, clock: Callable[[], datetime] | None = None,
                 display: Callable[[str], None] = print,
                 printer: Callable[[str], None] | None = None, pin_factory=None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(config.zone))
        self.display = display
        self.printer = printer or self._receipt_printer(config, display)
        self.lang = config.language
        self.key = load_station_key(config)
        self.outbox = Outbox(Path(config.data_dir) / "station.sqlite3")
        self.registry = Registry(Path(config.data_dir) / "registry.sqlite3")
        self.publisher = OutboxPublisher(
            self.outbox, center=config.center, station=config.station,
            host=config.mqtt.host, port=config.mqtt.port, keepalive_s=config.mqtt.keepalive_s,
            username=config.mqtt.username, password=config.mqtt.password,
            max_inflight=config.mqtt.max_inflight, reconnect_max_s=config.mqtt.reconnect_max_s)
        self.publisher.on_registry = self._registry_from_hub
        self.scale = Scale.from_config(config.scale, on_status=self._device_status)
        dc = config.densimeter
        self.densimeter = Densimeter.from_config(dc, on_status=self._device_status)
        ac = config.acceptance
        self.flow = IntakeFlow(densimeter=True, density_max_age_s=dc.max_age_s,
                               rules=AcceptanceRules(ac.alcohol_test, ac.organoleptic, ac.confirm,
                                                     ac.acidity_max_dornic, ac.reject_below_solids_pct))
        self.limits = config.quality.limits()
        tc = config.thermometers
        self.probes = tank_probes(tc)
        # Cold chain per tank (collector_station/coldchain/monitor.py); `coldchain.on_break` drives the alarm.
        self.coldchain = TankMonitor(
            Path(config.data_dir) / "coldchain.sqlite3", config.coldchain.settings(config.language),
            self.probes, outbox=self.outbox, envelope={"center": config.center, "station": config.station},
            topic=lambda: station_topic(config.center, config.station, "coldchain"),
            wake=lambda: self.publisher.wake(), keep_days=config.coldchain.keep_days,
            intake_tank=config.coldchain.intake_tank or next(iter(self.probes), None))
        self.recorded = threading.Condition()
        self.last_delivery: dict | None = None
        self.last_delivery = self._last_record()
        self._open_shift = self._shift_key(self.last_delivery) if self.last_delivery else None
        self._last_step = ""
        self._stop = threading.Event()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        # gpiozero's pin factory: None picks the Pi's; tests pass a MockFactory.
        self.panel = BenchPanel(config.panel, pin_factory=pin_factory) if config.panel else None
        if self.panel:
            self.panel.when_accept = lambda: self.decide(True)
            self.panel.when_reject = lambda: self.decide(False)
            self.panel.when_tare = self.tare
            self.panel.when_alcohol_pass = lambda: self.record_test("alcohol", True)
            self.panel.when_alcohol_fail = lambda: self.record_test("alcohol", False)
            self.coldchain.on_break = self._tank_alarm
        self._tanks_in_break: set[str] = set()

    def _tank_alarm(self, tank: str, active: bool) -> None:
        """Buzzer and red LED while any tank is in break."""
        (self._tanks_in_break.add if active else self._tanks_in_break.discard)(tank)
        if self.panel:
            self.panel.alarm(bool(self._tanks_in_break))

    def _receipt_printer(self, config: StationConfig, display) -> Callable[[str], None]:
        """Receipts go to the configured ESC/POS printer, or to the display."""
        if config.printer.kind == "none":
            return display
        try:
            device = open_printer(config.printer, console=display)
        except Exception as exc:  # no paper is no reason to stop taking milk
            log.error("receipt printer unavailable: %s", exc)
            return display

        def print_receipt(text_: str) -> None:
            try:
                device.text(text_)
                device.cut()
            except Exception as exc:
                log.error("receipt printer failed: %s", exc)
                display(text_)
        return print_receipt

    def _last_record(self) -> dict | None:
        last = self.outbox.deliveries(after_seq=max(self.outbox.last_seq() - 1, 0))
        return last[-1] if last else None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "Station":
        # Acknowledged outbox copies are not the record (the deliveries table
        # is): drop them after a week so the file does not grow for ever.
        week_ago = datetime.now(timezone.utc) - timedelta(days=7)
        self.outbox.prune_sent(week_ago.isoformat(timespec="milliseconds"))
        self.publisher.start()
        self.scale.instrument.start()
        self.densimeter.instrument.start()
        self._spawn(self._intake_loop, "intake")
        if self.probes:
            self._spawn(self._tank_loop, "tanks")
        self.show("ready", station=self.config.station, center=self.config.center)
        return self

    def stop(self) -> None:
        """Stop everything once; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        with self.scale.changed:
            self.scale.changed.notify_all()
        for thread in self._threads:
            thread.join(5)
        self.scale.instrument.stop()
        self.densimeter.instrument.stop()
        if self.probes:
            self._queue_tank_batches(force=True)
        self.coldchain.close()
        self.publisher.stop()
        self.outbox.close()
        self.registry.close()
        if self.panel:
            self.panel.close()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def show(self, key: str, **values: object) -> None:
        self.display(text(self.lang, key, **values))

    def _device_status(self, device: str, state: str) -> None:
        self.show("device_connected" if state == "connected" else "device_disconnected", device=device)
        self.publisher.device_status(device, state)

    def _registry_from_hub(self, payload: dict) -> None:
        try:
            count = self.registry.apply_hub_message(payload)
        except Exception as exc:  # a bad message from the hub must not stop the bench
            log.error("registry message refused: %s", exc)
            return
        self.show("registry_updated", count=count)

    # -- operator actions -------------------------------------------------
    def enter_producer(self, code: str) -> bool:
        code = code.strip()
        if not valid_producer_code(code):
            self.show("bad_code", code=code)
            return False
        if self.config.registry.require_known:
            producer = self.registry.get(code)
            if producer is None:
                self.show("unknown_code", code=code)
                return False
            if not producer.active:
                self.show("inactive_code", code=code)
                return False
        with self.scale.changed:
            self.flow.enter_producer(code)
            self._last_step = ""
            self.scale.changed.notify_all()
        if self.densimeter.needs_trigger:
            # An analyzer that measures on request (Ekomilk): start it as the producer is set.
            self.densimeter.start_analysis()
        self.show("producer_set", producer=code)
        return True

    def record_test(self, test: str, value) -> None:
        """Alcohol test (True = passes), organoleptic check (True = normal), acidity (°D)."""
        with self.scale.changed:
            self.flow.record_test(test, value)
            self.scale.changed.notify_all()
        if test in ("alcohol", "organoleptic"):
            result = ("pass" if value else "fail") if test == "alcohol" else ("ok" if value else "not_ok")
            self.show("test_recorded", test=text(self.lang, f"test_{test}"), result=text(self.lang, result))

    def decide(self, accept: bool, note: str = "") -> None:
        """The operator's ACCEPT or REJECT (buttons or keys)."""
        with self.scale.changed:
            self.flow.decide(accept, note)
            self.scale.changed.notify_all()

    def tare(self) -> bool:
        return self.scale.tare()

    def tank_event(self, tank: str, emptied: bool) -> bool:
        """The buyer emptied a tank, or milk was poured into it by hand."""
        if tank not in self.probes:
            self.show("unknown_tank", tank=tank, tanks=", ".join(self.probes) or "—")
            return False
        if emptied:
            self.coldchain.emptied(tank, self.clock())
        else:
            self.coldchain.milk_added(tank, self.clock())
        self.show("tank_emptied" if emptied else "tank_milk_added", tank=tank)
        return True

    def reprint_last(self) -> bool:
        last = self._last_record()
        if last is None:
            self.show("no_delivery", what="reimprimir" if self.lang == "es" else "reprinting")
            return False
        self.printer(render_receipt(last, self.lang, producer_name=self._name(last["producer"]),
                                    reprint=True, width=self.config.printer.width_chars))
        return True

    def void(self, ident: str, note: str = "") -> dict | None:
        """Void a delivery: a new record that references it, never an update."""
        return self._amend(ident, "void", note=note)

    def correct_producer(self, ident: str, producer: str, note: str = "") -> dict | None:
        """Re-attribute a delivery typed under the wrong producer code."""
        if not valid_producer_code(producer) or (
                self.config.registry.require_known and self.registry.get(producer) is None):
            self.show("unknown_code", code=producer)
            return None
        return self._amend(ident, "correction", producer=producer, note=note)

    def _amend(self, ident: str, kind: str, **changes) -> dict | None:
        original = self.outbox.delivery(str(ident))
        if original is None or original.get("kind", "delivery") == "void":
            self.show("no_delivery", what=str(ident))
            return None
        keep = {k: v for k, v in original.items()
                if k not in ("schema", "id", "seq", "prev_hash", "hash", "hmac", "receipt_code")}
        record = {**keep, "kind": kind, "refers_to": original["id"], "ts": self._now_iso(),
                  "note": changes.pop("note", ""), **changes}
        if kind == "void":
            record.update(accepted=False, reject_reason="void", liters=0.0, weight_kg=None)
        payload = self._commit(record)
        if kind == "void":
            self.show("voided", seq=original["seq"], new_seq=payload["seq"])
        return payload

    def close_shift(self) -> dict | None:
        """Print and publish the summary of the open shift (also done on its own
        when the first delivery of the next shift is recorded)."""
        if self._open_shift is None:
            return None
        day, name = self._open_shift
        # A shift is a few hundred deliveries at most: look back that far, not
        # through the whole history, every time a shift closes.
        recent = self.outbox.deliveries(after_seq=max(self.outbox.last_seq() - SHIFT_LOOKBACK, 0))
        records = [r for r in recent if self._shift_key(r) == (day, name)]
        summary = summarize(records, center=self.config.center, station=self.config.station,
                            day=day, shift=name, ts=self._now_iso())
        self.outbox.enqueue(station_topic(self.config.center, self.config.station, "shift"), summary)
        self.publisher.wake()
        self.printer(render_shift_summary(summary, self.lang, self.config.printer.width_chars))
        self.show("shift_closed", shift=name, date=day.isoformat(), deliveries=summary["deliveries"],
                  liters=f"{summary['liters']:.2f}")
        self._open_shift = None
        return summary

    # -- intake -----------------------------------------------------------
    def _now_iso(self) -> str:
        return self.clock().isoformat(timespec="milliseconds")

    def _shift_key(self, record: dict):
        return shift_of(datetime.fromisoformat(record["ts"]), self.config.shifts.starts, self.config.zone)

    def _name(self, code: str) -> str:
        producer = self.registry.get(code)
        return producer.name if producer else ""

    def _intake_loop(self) -> None:
        while not self._stop.is_set():
            with self.scale.changed:
                self.scale.changed.wait(0.2)
            try:
                self._intake_step()
            except Exception:  # a bug here must not stop the bench
                log.exception("intake step failed")

    def _lab_fat(self, producer: str):
        lab = self.registry.lab_fat(producer, self.clock().date(), self.config.registry.lab_fat_valid_days)
        return lab.fat_pct if lab else None

    def _intake_step(self) -> None:
        analysis = self.densimeter.latest
        with self.scale.changed:
            producer = self.flow.producer
            quality = None
            if producer is not None and self.flow.fresh(analysis, time.monotonic()):
                quality = assess_reading(analysis, self.config.quality.formula, self.limits,
                                         self._lab_fat(producer))
            step = self.flow.next_step(self.scale.state, self.scale.stable_kg, analysis,
                                       time.monotonic(), quality, self.scale.empties)
            if step.name != "record":
                self._announce(step, quality)
                return
            weight_kg = self.scale.stable_kg if self.scale.state == "stable" else None
            used = analysis if self.flow.fresh(analysis, time.monotonic()) else None
            tests = {"alcohol": None if self.flow.alcohol_ok is None else ("pass" if self.flow.alcohol_ok else "fail"),
                     "organoleptic": None if self.flow.organoleptic_ok is None else ("ok" if self.flow.organoleptic_ok else "not_ok"),
                     "acidity": self.flow.acidity_dornic}
            note = self.flow.note
            self.flow.recorded(used, weighed=weight_kg is not None, empties=self.scale.empties)
        record = build_delivery(
            center=self.config.center, station=self.config.station, producer=producer,
            ts=self.clock(), weight_kg=weight_kg, analysis=used,
            formula=self.config.quality.formula, limits=self.limits,
            operator=self.config.operator, accepted=step.accepted, reject_reason=step.reason,
            lab_fat_pct=self._lab_fat(producer), tests=tests, note=note)
        shift = self._shift_key(record)
        if self._open_shift is not None and shift != self._open_shift:
            self.close_shift()
        self._open_shift = shift
        payload = self._commit(record)
        self._last_step = "record"
        if payload["accepted"]:
            flags = f" — {', '.join(payload['flags'])}" if payload["flags"] else ""
            self.show("recorded", seq=payload["seq"], producer=producer, weight_kg=payload["weight_kg"],
                      liters=payload["liters"], density_15c=payload["density_15c"],
                      solids_pct=payload["solids_pct"], milk_temp_c=payload["milk_temp_c"], flags=flags)
        else:
            self.show("rejected_recorded", seq=payload["seq"], producer=producer,
                      reason=reason_text(self.lang, payload["reject_reason"]))

    def _commit(self, record: dict) -> dict:
        """Seal and store first; only then show, print and publish."""
        payload = self.outbox.record_delivery(
            record, station_topic(self.config.center, self.config.station, "delivery"), self.key)
        self.publisher.wake()
        # Accepted milk is poured into the intake tank: its cooling window starts.
        self.coldchain.delivery_recorded(payload)
        self.printer(render_receipt(payload, self.lang, producer_name=self._name(payload["producer"]),
                                    width=self.config.printer.width_chars))
        if self.panel:
            (self.panel.show_accepted if payload["accepted"] else self.panel.show_rejected)()
        with self.recorded:
            self.last_delivery = payload
            self.recorded.notify_all()
        return payload

    def _announce(self, step, quality) -> None:
        key = step.name
        if self.scale.state == "fault":
            key = "scale_fault"
        if key == self._last_step:
            return
        self._last_step = key
        if key == "wait_tests":
            self.show(key, missing=", ".join(text(self.lang, f"test_{t}") for t in step.missing))
        elif key == "wait_decision":
            self.show(key, solids_pct=quality.solids_pct_2dp if quality else "—")
        elif key in ("remove_can", "wait_density", "scale_fault"):
            self.show(key)

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Block until the scale and the densimeter ports are open (demo, tests):
        pyserial flushes what arrived before, so a reading sent earlier is lost."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.scale.instrument.connected and self.densimeter.instrument.connected:
                return True
            time.sleep(0.01)
        return False

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
        now = self.clock()
        ts = now.isoformat(timespec="milliseconds")
        for tank, probe in self.probes.items():
            temp_c = probe.read_c()
            if temp_c is None:
                log.warning("tank %s: no valid reading (%s)", tank, probe.last_error)
            self.outbox.add_tank_sample(tank, ts, temp_c)
            self.coldchain.sample(tank, now, temp_c)
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
