"""The cold chain at the station: the imperative shell around the machine.

`TankMonitor` feeds the tanks' samples and events to `machine.step`, stores
them with the worded messages they caused in its own SQLite file, and
copies those `coldchain/1` messages to the outbox.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

from milk_common.contract import coldchain_payload

from collector_station.coldchain.machine import TankState, apply_event, step
from collector_station.coldchain.settings import SAMPLES_KEEP_DAYS, ColdchainSettings
from collector_station.coldchain.texts import WordedChange, WordedWarning, word_change, word_warning
from collector_station.coldchain.trace import parse_time

log = logging.getLogger(__name__)

_DB_SCHEMA = """
CREATE TABLE IF NOT EXISTS tank_events (
    n      INTEGER PRIMARY KEY AUTOINCREMENT,
    tank   TEXT NOT NULL,
    ts     TEXT NOT NULL,              -- ISO 8601 with offset
    kind   TEXT NOT NULL,              -- sample | milk_added | emptied
    temp_c REAL,                       -- samples: NULL when no valid reading
    note   TEXT                        -- additions: delivery id or 'manual'
);
CREATE INDEX IF NOT EXISTS tank_events_tank ON tank_events (tank, n);
CREATE TABLE IF NOT EXISTS tank_messages (
    n       INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,             -- coldchain/1, to be copied into the outbox
    queued  INTEGER NOT NULL DEFAULT 0
);
"""


class TankMonitor:
    """Runs the machine for the station's tanks, durably.

    Every sample and event is stored (own SQLite file, WAL, FULL) in the same
    transaction as the state changes it caused; the changes are then copied
    to the outbox, so a crash in between re-queues them at the next start.
    On start the state of each tank is rebuilt by replaying its stored
    samples and events since it was last emptied, without publishing again.
    """

    def __init__(self, db_path: str | Path, settings: ColdchainSettings, tanks: Iterable[str], *,
                 outbox, topic: Callable[[], str], envelope: dict,
                 wake: Callable[[], None] = lambda: None,
                 intake_tank: str | None = None, keep_days: float = SAMPLES_KEEP_DAYS,
                 on_break: Callable[[str, bool], None] | None = None) -> None:
        self.settings = settings
        self.outbox = outbox
        self.topic = topic
        self.envelope = envelope
        self.wake = wake
        self.intake_tank = intake_tank
        self.keep_days = keep_days
        self.on_break = on_break
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_DB_SCHEMA)
        self.states = {tank: self._rebuild(tank) for tank in tanks}
        self._flush_messages()

    # -- rebuilding -------------------------------------------------------
    def _rebuild(self, tank: str) -> TankState:
        with self._lock:
            (start,) = self._db.execute(
                "SELECT COALESCE(MAX(n), 0) FROM tank_events WHERE tank = ? AND kind = 'emptied'",
                (tank,)).fetchone()
            rows = self._db.execute(
                "SELECT ts, kind, temp_c FROM tank_events WHERE tank = ? AND n >= ? ORDER BY n",
                (tank, start)).fetchall()
        st = TankState(tank)
        for ts, kind, temp_c in rows:
            event = "" if kind == "sample" else kind
            st, _, _ = step(st, parse_time(ts), temp_c, event, self.settings)
        return st

    def state(self, tank: str) -> str:
        return self.states[tank].state

    # -- inputs -----------------------------------------------------------
    def sample(self, tank: str, t: datetime, temp_c: float | None) -> list[WordedChange]:
        return self._apply(tank, t, "sample", temp_c)

    def milk_added(self, tank: str, t: datetime, note: str = "manual") -> list[WordedChange]:
        """Milk poured into the tank (a delivery, or entered by hand)."""
        return self._apply(tank, t, "milk_added", None, note)

    def emptied(self, tank: str, t: datetime) -> list[WordedChange]:
        """The buyer collected the milk: an operator action."""
        return self._apply(tank, t, "emptied", None, "operator")

    def delivery_recorded(self, payload: dict) -> list[WordedChange]:
        """An accepted delivery is poured into the configured intake tank."""
        if not payload.get("accepted") or not self.intake_tank or self.intake_tank not in self.states:
            return []
        return self.milk_added(self.intake_tank, parse_time(payload["ts"]), payload.get("id", ""))

    def _apply(self, tank: str, t: datetime, kind: str, temp_c: float | None,
               note: str | None = None) -> list[WordedChange]:
        if tank not in self.states:
            raise KeyError(f"unknown tank {tank!r}")
        with self._lock:
            before = self.states[tank]
            if kind == "sample":
                st, changes, warnings = step(before, t, temp_c, "", self.settings)
            else:   # an event alone: the sampler supplies the readings
                st, changes, warnings = self._event_step(before, t, kind)
            lang = self.settings.language
            changes = [word_change(c, lang) for c in changes]
            messages = [self._message(c.time, tank, c.state, c.reason, c.reason_code, None)
                        for c in changes]
            # A warning's reason_code on the wire is its kind: the hub alerts on it.
            messages += [self._message(w.time, tank, w.state, w.reason, w.kind, w)
                         for w in (word_warning(w, lang) for w in warnings)]
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO tank_events (tank, ts, kind, temp_c, note) VALUES (?, ?, ?, ?, ?)",
                    (tank, t.isoformat(timespec="milliseconds"), kind, temp_c, note))
                self._db.executemany("INSERT INTO tank_messages (payload) VALUES (?)",
                                     [(json.dumps(m, ensure_ascii=False),) for m in messages])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.states[tank] = st
        self._flush_messages()
        if self._pruned_at is None or (t - self._pruned_at).total_seconds() > 3600:
            self._pruned_at = t
            self.prune(t)
        for change in changes:
            log.info("tank %s: %s -> %s (%s)", tank, change.previous, change.state, change.reason)
            if self.on_break and (change.state == "break") != (change.previous == "break"):
                try:
                    self.on_break(tank, change.state == "break")
                except Exception:
                    log.exception("on_break callback failed")
        return changes

    def _event_step(self, st: TankState, t: datetime, event: str):
        return apply_event(st, t, event, self.settings)

    def _message(self, t: datetime, tank: str, state: str, reason: str, code: str,
                 warning: WordedWarning | None) -> dict:
        return coldchain_payload(
            self.envelope["center"], self.envelope["station"], tank,
            t.isoformat(timespec="milliseconds"), state, reason, code,
            warning=warning.kind if warning is not None else None,
            eta=warning.eta.isoformat(timespec="seconds") if warning is not None and warning.eta else None)

    def _flush_messages(self) -> None:
        """Copy stored changes into the outbox (at least once: the hub's writes are idempotent)."""
        with self._lock:
            rows = self._db.execute("SELECT n, payload FROM tank_messages WHERE queued = 0 ORDER BY n"
                                    ).fetchall()
            for n, payload in rows:
                self.outbox.enqueue(self.topic(), json.loads(payload))
                self._db.execute("UPDATE tank_messages SET queued = 1 WHERE n = ?", (n,))
        if rows:
            self.wake()

    def prune(self, now: datetime) -> None:
        """Drop samples older than keep_days; events stay (they are few)."""
        cutoff = (now - timedelta(days=self.keep_days)).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute("DELETE FROM tank_events WHERE kind = 'sample' AND ts < ?", (cutoff,))
            self._db.execute("DELETE FROM tank_messages WHERE queued = 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()
