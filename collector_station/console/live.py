"""The console's window on a running Station: what the screen shows now, and
a wake-up for each open page when it changes.

The state lives in the station, never in the page: a reloaded page reads it
all again, and every action the page sends names what it acted on (the
confirmation's number, the delivery's number), so nothing is done twice.
Pages are woken on the asyncio loop of the web server by thread-safe calls
from the station's threads (a weight frame, a shown message, a record).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime

from collector_station.console import view as v
from collector_station.console.calibration_screen import CalibrationScreen
from collector_station.i18n import reason_text
from collector_station.intake.shifts import summarize
from collector_station.supervisor import SupervisorPin

RECENT_ROWS = 8
# Records read back to know which recent deliveries were voided or corrected.
RECENT_LOOKBACK = 200
# Station messages that tell of a fault or a refusal (shown in red).
ERROR_KEYS = frozenset({"bad_code", "unknown_code", "inactive_code", "no_delivery", "unknown_tank",
                        "device_disconnected", "scale_fault", "accept_refused_no_values",
                        "accept_refused_replaced", "supervisor_reason_needed", "supervisor_locked",
                        "supervisor_not_set", "supervisor_wrong", "supervisor_pin_needed",
                        "already_voided", "keypad_usage_void", "keypad_usage_correct", "keypad_word_code",
                        "cal.refused", "cal.no_reading", "cal.check_failed", "cal.bad_kg",
                        "cal.same_weights", "cal.not_bridge", "cal.interrupted"})


@dataclass(eq=False)      # hashed by identity: one per open page
class Subscriber:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)
    dirty: set[str] = field(default_factory=set)


class ConsoleLive:
    """Builds the console's view of a Station and wakes the pages that show it."""

    def __init__(self, station) -> None:
        self.station = station
        self.lang = station.config.language
        self.pin = getattr(station, "supervisor", None) or SupervisorPin(station.config.data_dir)
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._order = itertools.count(1)
        self._station_message: tuple[int, str, bool] = (0, "", False)
        self._own_message: tuple[int, str, bool] = (0, "", False)
        self._recent: list[dict] | None = None
        self._shift: dict | None = None
        self._records_seen = -1
        self.closed = threading.Event()      # set on stop: open event streams end
        self.technician = CalibrationScreen(station)
        # Counts changes: a view carries the count it was built after, so a page
        # never replaces a newer view with an older one that arrived late.
        self.revision = 0
        key, said = getattr(station, "last_message", ("", ""))
        if said:                       # what the station said before the console started ("lista")
            self._station_message = (next(self._order), said, key in ERROR_KEYS)
        station.listeners.append(self.changed)

    # -- wake-ups ---------------------------------------------------------
    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def changed(self, kind: str, detail: object = None) -> None:
        """Called from any thread: `weight` (a scale frame), `message`, `record`, `state`."""
        if kind == "message" and detail is not None:
            key, said = detail
            error = key in ERROR_KEYS or key.startswith("scale_fault.")
            self._station_message = (next(self._order), said, error)
        if kind == "record":
            self._recent = None
        self.revision = next(self._order)      # atomic: station threads call this at once
        dirty = "weight" if kind == "weight" else "state"
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.dirty.add(dirty)
            try:
                sub.loop.call_soon_threadsafe(sub.event.set)
            except RuntimeError:       # its loop is closed: the page went away
                self.unsubscribe(sub)

    def say(self, key: str, error: bool = True, **values: object) -> str:
        """A console message (a refused PIN, a bad entry) in the operator's words."""
        said = v.t(self.lang, key, **values)
        self._own_message = (next(self._order), said, error)
        self.changed("state")
        return said

    # -- what the screen shows -------------------------------------------
    def weight(self) -> dict:
        scale = self.station.scale
        last = scale.last_weight
        return v.weight_view(self.lang, scale.state, last.value_kg if last else None,
                             getattr(scale, "fault_reason", None))

    def message(self) -> dict:
        newest = max(self._station_message, self._own_message)
        return {"text": newest[1], "error": newest[2]}

    def _name(self, code: str) -> str:
        producer = self.station.registry.get(code)
        return producer.name if producer else ""

    def _records(self) -> list[dict]:
        """Recent records, newest first, with the voided ones marked (cached per record)."""
        outbox = self.station.outbox
        last_seq = outbox.last_seq()
        if self._recent is None or self._records_seen != last_seq:
            records = outbox.deliveries(after_seq=max(last_seq - RECENT_LOOKBACK, 0))
            by_id = {r["id"]: r for r in records}
            superseded = {r.get("refers_to") for r in records if r.get("kind") in ("void", "correction")}
            rows = []
            for record in reversed(records[-RECENT_ROWS:]):
                refers = by_id.get(record.get("refers_to") or "")
                rows.append(v.row_view(self.lang, record, self._name(record["producer"]),
                                       reason_text(self.lang, record.get("reject_reason")),
                                       self.station.config.zone, record["id"] in superseded,
                                       refers["seq"] if refers else None))
            self._recent, self._records_seen = rows, last_seq
            self._shift = self._shift_summary(records)
        return self._recent

    def _shift_summary(self, records: list[dict]) -> dict | None:
        st = self.station
        key = st._open_shift
        if key is None:
            return None
        day, name = key
        mine = [r for r in records if st._shift_key(r) == (day, name)]
        summary = summarize(mine, center=st.config.center, station=st.config.station, day=day,
                            shift=name, ts=datetime.now(st.config.zone).isoformat())
        return v.shift_view(self.lang, summary)

    def view(self) -> dict:
        revision = self.revision
        st = self.station
        lang = self.lang
        flow = st.flow
        rules = flow.rules
        producer = flow.producer
        preview = getattr(st, "confirmation", None) if producer is not None else None
        confirmation = v.confirmation_view(lang, preview, st.config.quality.min_solids_pct)
        missing = flow.missing_tests() if producer is not None else ()
        last = st.last_delivery
        refers = None
        if last is not None and last.get("refers_to"):
            original = st.outbox.delivery(last["refers_to"])
            refers = original["seq"] if original else None
        recent = self._records()
        tanks = [v.tank_view(lang, tank, state.state, state.last_temp_c)
                 for tank, state in st.coldchain.states.items()]
        densimeter = st.densimeter
        detail = ""
        if densimeter.instrument.connected and densimeter.latest is not None:
            age_s = int(max(0.0, densimeter.clock() - densimeter.latest.received_s))
            detail = v.t(lang, "device.last_reading_s", seconds=age_s) if age_s < 60 else \
                v.t(lang, "device.last_reading", minutes=age_s // 60, seconds=age_s % 60)
        scale_detail = self.weight()["words"] if st.scale.instrument.connected else ""
        return {
            "revision": revision,
            "weight": self.weight(),
            "producer": {"code": producer, "name": (self._name(producer) or v.NONE) if producer else v.NONE},
            "tests": {"alcohol": v.test_view(lang, rules.alcohol_test,
                                             flow.alcohol_ok if producer is not None else None),
                      "organoleptic": v.test_view(lang, rules.organoleptic,
                                                  flow.organoleptic_ok if producer is not None else None),
                      "missing": list(missing)},
            "confirmation": confirmation,
            "can_accept": confirmation is not None and not missing,
            "can_reject": producer is not None,
            "last": v.last_view(lang, last, self._name(last["producer"]) if last else "",
                                reason_text(lang, last.get("reject_reason")) if last else "", refers),
            "message": self.message(),
            "link": v.link_view(lang, v.link_state(st.publisher.connected.is_set(), st.hub_reach.reachable),
                                st.outbox.unsent_deliveries()),
            "tanks": tanks,
            "instruments": [v.instrument_view(lang, "scale", st.scale.instrument.connected, scale_detail),
                            v.instrument_view(lang, "densimeter", densimeter.instrument.connected, detail)],
            "recent": recent,
            "shift": self._shift,
            "reject_reasons": [{"code": code, "words": v.words(lang, f"reject.{code}", code)}
                               for code in v.OPERATOR_REJECT_REASONS],
            "pin_set": self.pin.is_set,
            "technician": self.technician.view(),
        }
