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
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from milk_common.contract import KEYPAD_WORDS, station_topic, valid_producer_code
from milk_common.integrity import parse_key

from collector_station.clock import ClockGuard, ClockVerdict
from collector_station.coldchain import TankMonitor
from collector_station.config import StationConfig
from collector_station.instruments.devices import Densimeter, Scale, tank_probes
from collector_station.instruments import calibration
from collector_station.instruments.stability import FaultNotice
from collector_station.speech import Speaker
from collector_station.i18n import reason_text, text
from collector_station.intake.flow import (AcceptanceRules, IntakeFlow, assess_reading, build_delivery,
                                           match_producer_number)
from collector_station.intake.quality import flags_text
from collector_station.supervisor import SupervisorPin
from collector_station.outbox.store import Outbox
from collector_station.panel import BenchPanel
from collector_station.printer import open_printer
from collector_station.outbox.publisher import OutboxPublisher
from collector_station.offline.modem import GammuModem
from collector_station.offline.notifier import OfflineAlarm
from collector_station.offline.policy import breaks_of
from collector_station.offline.reach import HubReach
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


_say_lock = threading.Lock()


def say_line(message: str) -> None:
    """The default display: one whole line at a time on standard output
    (print() writes the text and its newline apart, and two threads'
    messages ran into one line)."""
    with _say_lock:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()


class Station:
    """One intake bench. `clock` gives the aware time stamped on records
    (the demo replays a simulated fortnight through it); `printer` receives
    each receipt's text (default: the display)."""

    def __init__(self, config: StationConfig, *, clock: Callable[[], datetime] | None = None,
                 display: Callable[[str], None] | None = None,
                 printer: Callable[[str], None] | None = None, pin_factory=None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(config.zone))
        self.display = display or say_line
        self.printer = printer or self._receipt_printer(config, self.display)
        self.lang = config.language
        self.key = load_station_key(config)
        self.outbox = Outbox(Path(config.data_dir) / "station.sqlite3")
        self.registry = Registry(Path(config.data_dir) / "registry.sqlite3")
        self.publisher = OutboxPublisher(
            self.outbox, center=config.center, station=config.station,
            host=config.mqtt.host, port=config.mqtt.port, keepalive_s=config.mqtt.keepalive_s,
            access=config.mqtt,
            max_inflight=config.mqtt.max_inflight, reconnect_max_s=config.mqtt.reconnect_max_s)
        self.publisher.on_registry = self._registry_from_hub
        # Who is told of each change (the console); the last message shown.
        self.listeners: list[Callable[[str, object], None]] = []
        self.last_message: tuple[str, str] = ("", "")
        self.supervisor = SupervisorPin(config.data_dir)   # voids and corrections
        self.scale = Scale.from_config(config.scale, on_status=self._device_status)
        self._use_saved_calibration()
        # Spoken results, when [console] speech = true (speech.py); tests swap the backend.
        self.speaker = Speaker.from_config(config)
        # Every scale frame reaches the faces as it arrives (the console's live weight).
        scale_event = self.scale.instrument.on_event
        self.scale.instrument.on_event = lambda event: (scale_event(event), self._changed("weight"))
        dc = config.densimeter
        self.densimeter = Densimeter.from_config(dc, on_status=self._device_status)
        ac = config.acceptance
        self.flow = IntakeFlow(densimeter=True, density_max_age_s=dc.max_age_s,
                               rules=AcceptanceRules(ac.alcohol_test, ac.organoleptic, ac.confirm,
                                                     ac.acidity_max_dornic, ac.reject_below_solids_pct),
                               weight_tolerance_kg=config.scale.stable_tolerance_kg)
        # What ACCEPT will record, as the record will carry it (weight_kg,
        # liters, solids_pct...), with the confirmation's `number` and
        # `replaced`; None while nothing is up for decision.
        self.confirmation: dict | None = None
        self._fault_notice = FaultNotice()
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
        # Time you can trust (docs/clock.md): no delivery is stamped by a
        # clock that nothing vouches for. Tests swap `clock_guard.probes`.
        self.clock_guard = ClockGuard(config.clock, on_change=self._clock_changed)
        self._clock_was_trusted = True
        # The hub's liveness, and the SMS when it cannot hear a break (docs/offline-alerts.md).
        self.hub_reach = HubReach()
        self.publisher.on_hub_status = self.hub_reach.hub_status
        self.publisher.on_broker = self.hub_reach.broker
        al = config.alerts
        self.offline_alarm = OfflineAlarm(
            al, center=config.center, station=config.station, lang=config.language, zone=config.zone,
            reach=self.hub_reach, breaks=lambda: breaks_of(dict(self.coldchain.states)),
            modem=GammuModem(al.modem_port, al.modem_connection) if al.modem_port else None,
            db_path=Path(config.data_dir) / "offline_sms.sqlite3", show=self.show)

    # -- scale calibration and its weekly check (instruments/calibration.py) --
    def _use_saved_calibration(self) -> None:
        """The bridge scale weighs with the calibration saved by `calibrate`
        in data_dir when there is one, else with the config's values."""
        self.scale_calibration = None
        self._next_check_look, self._check_said = 0.0, False
        if self.scale.calibration is None:       # an indicator that weighs by itself
            return
        try:
            saved = calibration.load_calibration(self.config.data_dir)
        except calibration.CalibrationError as exc:
            log.error("scale calibration not used, the config's values apply: %s", exc)
            return
        if saved is not None:
            self.apply_calibration(saved)

    def apply_calibration(self, saved: "calibration.Calibration") -> None:
        """Weigh with `saved` from now on (after `calibrate`, or the technician screen)."""
        self.scale_calibration = saved
        self.scale.calibration = saved.load_cell(self.config.scale.resolution_kg)
        log.info("scale calibration of %s: %s counts/kg, zero %s", saved.calibrated_at,
                 saved.counts_per_kg, saved.offset_counts)

    def steady_scale_counts(self, timeout_s: float = 30.0) -> int | None:
        """The bridge scale's next steady raw reading, for a technician screen
        driving a `calibration.CalibrationSession` (blocks: call it off the
        request thread). None when none came within `timeout_s`, or the scale
        is not a raw load cell."""
        if self.scale.calibration is None:
            return None
        sc = self.config.scale
        raw = calibration.RawCounts()
        self.scale.raw_listeners.append(raw)
        try:
            spread = max(int(abs(self.scale.calibration.counts_per_kg) * sc.interval_kg), 20)
            return raw.steady(calibration.SteadyWindow(20, spread), timeout_s)
        finally:
            self.scale.raw_listeners.remove(raw)

    def scale_check_status(self) -> dict:
        """For a technician screen: when the scale was calibrated and last
        checked, and whether the weekly check is due."""
        last = calibration.last_checked_at(self.config.data_dir)
        return {"calibrated_at": self.scale_calibration.calibrated_at if self.scale_calibration else None,
                "last_checked_at": last,
                "check_due": calibration.check_due(last, self.clock(), self.config.scale.check_every_days)}

    def _remind_scale_check(self) -> None:
        """Say "verificación semanal pendiente" when it falls due (looked at once a minute)."""
        now = time.monotonic()
        if now < self._next_check_look:
            return
        self._next_check_look = now + 60.0
        due = self.scale_check_status()["check_due"]
        if due and not self._check_said:
            self.show("cal.check_due")
        self._check_said = due

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
        self.clock_guard.start(self._stop)
        self._spawn(self._intake_loop, "intake")
        if self.probes:
            self._spawn(self._tank_loop, "tanks")
            self._threads.append(self.offline_alarm.start(self._stop))
        # Before "ready": the technician's reminder must not take the operator's prompt's place.
        self._remind_scale_check()
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
        self.offline_alarm.close()
        self.publisher.stop()
        self.outbox.close()
        self.registry.close()
        if self.panel:
            self.panel.close()
        self.speaker.close()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def show(self, key: str, **values: object) -> None:
        message = text(self.lang, key, **values)
        self.last_message = (key, message)
        self.display(message)
        self._changed("message", (key, message))

    def _changed(self, kind: str, detail: object = None) -> None:
        """Tell the faces (console) what changed: `weight`, `message`, `record`, `state`."""
        for listener in self.listeners:
            try:
                listener(kind, detail)
            except Exception:  # a face's bug must not stop the bench
                log.exception("listener failed")

    def _device_status(self, device: str, state: str) -> None:
        # The operator reads the instrument's name in their language ("balanza"), the hub its code.
        self.show("device_connected" if state == "connected" else "device_disconnected",
                  device=text(self.lang, f"device.{device}"))
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
        if self._clock_refuses(always=True):
            return False
        code = self._resolve_code(code.strip())
        if not valid_producer_code(code):
            # `ap` has the right letters: say it is a keypad command, not which characters a code takes.
            self.show("keypad_word_code" if code.lower() in KEYPAD_WORDS else "bad_code", code=code)
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

    def _resolve_code(self, code: str) -> str:
        """A bare number typed on a pad is the registered producer with that number."""
        if not code.isdigit() or self.registry.get(code) is not None:
            return code
        return match_producer_number(code, [p.code for p in self.registry.all() if p.active]) or code

    def record_test(self, test: str, value) -> None:
        """Alcohol test (True = passes), organoleptic check (True = normal), acidity (°D)."""
        with self.scale.changed:
            self.flow.record_test(test, value)
            self.scale.changed.notify_all()
        if test in ("alcohol", "organoleptic"):
            result = ("pass" if value else "fail") if test == "alcohol" else ("ok" if value else "not_ok")
            self.show("test_recorded", test=text(self.lang, f"test_{test}"), result=text(self.lang, result))

    def decide(self, accept: bool, note: str = "", confirmation: int | None = None,
               reason: str | None = None) -> bool:
        """The operator's ACCEPT or REJECT (buttons, keys or the console).

        An ACCEPT needs the values on show (`self.confirmation`); a face
        that shows them passes their `number`, and an ACCEPT of values
        replaced meanwhile is refused (False, and said).
        """
        with self.scale.changed:
            done = self.flow.decide(accept, note, confirmation, reason)
            self.scale.changed.notify_all()
        if not done:
            self.show("accept_refused_no_values" if self.flow.confirmation is None
                      else "accept_refused_replaced")
        return done

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
        refers = self.outbox.delivery(last["refers_to"]) if last.get("refers_to") else None
        self.printer(render_receipt(last, self.lang, producer_name=self._name(last["producer"]),
                                    reprint=True, width=self.config.printer.width_chars, refers=refers))
        return True

    def void(self, ident: str, note: str = "", pin: str | None = None) -> dict | None:
        """Void a delivery: a new record that references it, never an update.
        Needs the supervisor PIN and a reason (`note`)."""
        if not self._supervised(pin, note):
            return None
        return self._amend(ident, "void", note=note)

    def correct_producer(self, ident: str, producer: str, note: str = "",
                         pin: str | None = None) -> dict | None:
        """Re-attribute a delivery typed under the wrong producer code (PIN and reason)."""
        if not valid_producer_code(producer) or (
                self.config.registry.require_known and self.registry.get(producer) is None):
            self.show("unknown_code", code=producer)
            return None
        if not self._supervised(pin, note):
            return None
        return self._amend(ident, "correction", producer=producer, note=note)

    def _supervised(self, pin: str | None, reason: str) -> bool:
        """The supervisor's PIN and a reason, or a Spanish word why not."""
        if not reason.strip():
            self.show("supervisor_reason_needed")
            return False
        check = self.supervisor.check(pin or "")
        if check.ok:
            return True
        if check.result == "locked":
            self.show("supervisor_locked", seconds=check.locked_s)
        elif check.result == "not_set":
            self.show("supervisor_not_set")
        elif check.result == "missing":
            self.show("supervisor_pin_needed")
        else:
            self.show("supervisor_wrong", tries=check.tries_left)
        return False

    def _amend(self, ident: str, kind: str, **changes) -> dict | None:
        if self._clock_refuses(always=True):
            return None
        original = self.outbox.delivery(str(ident))
        if original is None or original.get("kind", "delivery") == "void":
            self.show("no_delivery", what=str(ident))
            return None
        if any(r.get("kind") == "void" and r.get("refers_to") == original["id"]
               for r in self.outbox.deliveries(after_seq=original["seq"])):
            self.show("already_voided", seq=original["seq"])
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
                self._remind_scale_check()
            except Exception:  # a bug here must not stop the bench
                log.exception("intake step failed")

    def _lab_fat(self, producer: str):
        lab = self.registry.lab_fat(producer, self.clock().date(), self.config.registry.lab_fat_valid_days)
        return lab.fat_pct if lab else None

    def _intake_step(self) -> None:
        analysis = self.densimeter.latest
        with self.scale.changed:
            self._watch_scale_fault()
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
            if self._clock_refuses():
                return      # the decision waits until the clock is trusted
            if step.confirmation is not None:
                # What the operator saw is what is recorded, wherever the scale is now.
                weight_kg, used = step.confirmation.weight_kg, step.confirmation.analysis
            else:
                weight_kg = self.scale.stable_kg if self.scale.state == "stable" else None
                used = analysis if self.flow.fresh(analysis, time.monotonic()) else None
            self.confirmation = None
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
            # The flags in the operator's words, never their codes.
            flags = f" — {', '.join(flags_text(payload['flags'], self.lang))}" if payload["flags"] else ""
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
        refers = self.outbox.delivery(payload["refers_to"]) if payload.get("refers_to") else None
        self.printer(render_receipt(payload, self.lang, producer_name=self._name(payload["producer"]),
                                    width=self.config.printer.width_chars, refers=refers))
        if self.panel:
            (self.panel.show_accepted if payload["accepted"] else self.panel.show_rejected)()
        self.speaker.delivery(payload)       # "Aceptada, veinticinco litros" (never waits)
        with self.recorded:
            self.last_delivery = payload
            self.recorded.notify_all()
        self._changed("record", payload)
        return payload

    # -- the clock (collector_station/clock.py) --------------------------------
    def _clock_refuses(self, always: bool = False) -> bool:
        """True while the clock may not stamp a record; the bench is told
        (once per wait, or at every operator action when `always`)."""
        verdict = self.clock_guard.verdict or self.clock_guard.check()
        if verdict.trusted:
            return False
        if always or self._last_step != "clock_untrusted":
            self._last_step = "clock_untrusted"
            self.show("clock_untrusted", reason=text(self.lang, f"clock_reason.{verdict.basis}"))
        return True

    def _clock_changed(self, verdict: ClockVerdict) -> None:
        """The retained status says the verdict; the bench hears when it turns."""
        self.publisher.status_fields(clock=verdict.status)
        if verdict.trusted and not self._clock_was_trusted:
            self.show("clock_trusted", reason=text(self.lang, f"clock_reason.{verdict.basis}"))
            self._last_step = ""        # say again what the bench waits for
        elif not verdict.trusted and self._clock_was_trusted:
            self.show("clock_untrusted", reason=text(self.lang, f"clock_reason.{verdict.basis}"))
        self._clock_was_trusted = verdict.trusted

    def _watch_scale_fault(self) -> None:
        """A real scale fault is said once, and its end once (FaultNotice)."""
        notice = self._fault_notice.update(self.scale.fault_reason, time.monotonic())
        if notice is None:
            return
        what, reason = notice
        if what == "fault":
            self.show(f"scale_fault.{reason}")
        else:
            self.show("scale_fault_cleared")
            self._last_step = ""        # say again what the bench waits for

    def _preview(self, producer: str, confirmation) -> dict:
        """The record ACCEPT would make from a confirmation (same builder, same inputs)."""
        record = build_delivery(
            center=self.config.center, station=self.config.station, producer=producer,
            ts=self.clock(), weight_kg=confirmation.weight_kg, analysis=confirmation.analysis,
            formula=self.config.quality.formula, limits=self.limits,
            lab_fat_pct=self._lab_fat(producer))
        return {"number": confirmation.number, "replaced": confirmation.replaced, **record}

    def _announce(self, step, quality) -> None:
        key = step.name
        if step.confirmation is not None:
            key = f"wait_decision:{step.confirmation.number}"
        elif self.confirmation is not None:
            self.confirmation = None
        if key == self._last_step:
            return
        self._last_step = key
        if step.confirmation is not None:
            shown = self._preview(self.flow.producer, step.confirmation)
            self.confirmation = shown
            # The weight as recorded (up to 3 decimals), litres and TS as on the receipt.
            weight = f"{shown['weight_kg']:.3f}"
            self.show("confirm_replaced" if shown["replaced"] else "confirm_values",
                      weight_kg=weight[:-1] if weight.endswith("0") else weight,
                      liters=f"{shown['liters']:.2f}",
                      solids_pct="—" if shown["solids_pct"] is None else f"{shown['solids_pct']:.2f}")
        elif key == "wait_tests":
            self.show(key, missing=", ".join(text(self.lang, f"test_{t}") for t in step.missing))
        elif key == "remove_can" or key == "wait_density":
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

    def wait_confirmation(self, timeout_s: float = 10.0) -> dict | None:
        """Block until values are up for decision (demo, tests): the keypad's
        ACCEPT counts only once they are shown."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            shown = self.confirmation
            if shown is not None:
                return shown
            time.sleep(0.01)
        return None

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
