"""The offline alarm: checks the policy now and then, sends, remembers.

What was sent is kept in its own small SQLite file, so a station restarted
during a break does not text the same break again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from collector_station.offline.modem import Modem, SmsError
from collector_station.offline.policy import TankBreak, sent_key, sms_due, sms_text
from collector_station.offline.reach import HubReach
from collector_station.offline.settings import AlertsConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsOutcome:
    tank: str
    number: str
    ok: bool
    error: str = ""


class OfflineAlarm:
    """`tick()` sends what is due; `start(stop)` ticks every `check_interval_s`.

    `breaks()` gives the tanks in break now; `show(key, **values)` tells the
    bench (texts from the `station` catalog); `modem` is None where none is
    fitted (then the bench is told once, and nothing else happens)."""

    def __init__(self, config: AlertsConfig, *, center: str, station: str, lang: str,
                 zone: tzinfo, reach: HubReach, breaks: Callable[[], list[TankBreak]],
                 modem: Modem | None, db_path: str | Path,
                 show: Callable[..., None] = lambda key, **values: None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.center, self.station, self.lang, self.zone = center, station, lang, zone
        self.reach = reach
        self.breaks = breaks
        self.modem = modem
        self.show = show
        self.now = now
        self.failed_at: dict[str, float] = {}
        self.outcomes: list[SmsOutcome] = []     # for the status and tests
        self._told_no_modem: set[str] = set()
        self._lock = threading.Lock()
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS sms_sent (key TEXT PRIMARY KEY, sent_at TEXT NOT NULL)")

    def sent(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM sms_sent")}

    def tick(self) -> list[SmsOutcome]:
        """Send whatever is due now; returns what was tried."""
        breaks = self.breaks()
        offline_s = self.reach.unreachable_for_s()
        can_send = self.modem is not None and bool(self.config.sms_to)
        numbers = self.config.sms_to if can_send else ["-"]
        due = sms_due(offline_s, self.config.offline_sms_after_s, breaks, numbers,
                      self.sent(), self.failed_at, self.now(), self.config.retry_s)
        outcomes = []
        for brk, number in due:
            if not can_send:
                # Nothing to send with: say so once per break (the buzzer sounds already).
                if brk.key not in self._told_no_modem:
                    self._told_no_modem.add(brk.key)
                    self.show("sms_no_modem", tank=brk.tank)
                continue
            text = sms_text(self.lang, center=self.center, station=self.station, brk=brk,
                            offline_min=int(offline_s // 60), zone=self.zone)
            outcomes.append(self._send(brk, number, text))
        self.outcomes.extend(outcomes)
        return outcomes

    def _send(self, brk: TankBreak, number: str, text: str) -> SmsOutcome:
        key = sent_key(brk, number)
        try:
            self.modem.send(number, text)
        except SmsError as exc:
            self.failed_at[key] = self.now()
            log.error("offline SMS to %s for tank %s failed: %s", number, brk.tank, exc)
            self.show("sms_failed", tank=brk.tank, number=number, error=str(exc))
            return SmsOutcome(brk.tank, number, False, str(exc))
        except Exception as exc:    # a modem library's surprise must not stop the alarm
            self.failed_at[key] = self.now()
            log.exception("offline SMS to %s failed", number)
            return SmsOutcome(brk.tank, number, False, f"{exc.__class__.__name__}: {exc}")
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO sms_sent (key, sent_at) VALUES (?, ?)",
                             (key, datetime.now(UTC).isoformat(timespec="seconds")))
        self.failed_at.pop(key, None)
        log.warning("offline SMS sent to %s for tank %s", number, brk.tank)
        self.show("sms_sent", tank=brk.tank, number=number)
        return SmsOutcome(brk.tank, number, True)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._loop, args=(stop,), name="offline-alarm", daemon=True)
        thread.start()
        return thread

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.check_interval_s):
            try:
                self.tick()
            except Exception:   # the alarm must outlive its own bugs
                log.exception("offline alarm check failed")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        close = getattr(self.modem, "close", None)
        if close:
            close()
