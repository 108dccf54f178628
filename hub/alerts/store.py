"""Alerts in SQLite: the running hub writes, `milk-hub alerts list|ack` reads and acks."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from milk_common.sqlite_wal import use_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT NOT NULL,          -- center/station/tank/kind: one open alert per key
    center           TEXT NOT NULL,
    station          TEXT NOT NULL,
    tank             TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL,          -- break | sensor_fault | predicted_miss | compressor_suspect | station_silent
    opened_at        TEXT NOT NULL,          -- event time (ISO 8601 with offset)
    detail           TEXT NOT NULL DEFAULT '',
    resolved_at      TEXT,
    acked_at         TEXT,
    acked_by         TEXT,
    notified_at      TEXT,
    notify_count     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (key) WHERE resolved_at IS NULL;
-- The newest cold-chain message handled per tank: after a restart, an
-- older message re-sent by a station (at least once) must not reopen an
-- alert that was resolved since.
CREATE TABLE IF NOT EXISTS tank_latest (
    tank_key  TEXT PRIMARY KEY,          -- center/station/tank
    ts_ms     INTEGER NOT NULL           -- epoch milliseconds of its time
);
CREATE TABLE IF NOT EXISTS stations (
    center    TEXT NOT NULL,
    station   TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (center, station)
);
"""


@dataclass(frozen=True)
class Alert:
    id: int
    key: str
    center: str
    station: str
    tank: str
    kind: str
    opened_at: str
    detail: str
    resolved_at: str | None
    acked_at: str | None
    acked_by: str | None
    notified_at: str | None
    notify_count: int

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def to_json(self) -> dict:
        return dict(self.__dict__)


COLUMNS = ("id, key, center, station, tank, kind, opened_at, detail, resolved_at, acked_at, "
           "acked_by, notified_at, notify_count")


# How often a station's "last heard" time is written durably (see AlertStore.seen).
SEEN_WRITE_S = 5.0


class AlertStore:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        use_wal(self._db)
        self._db.executescript(SCHEMA)
        self._seen: dict[tuple[str, str], datetime] = {}
        self._seen_written: dict[tuple[str, str], datetime] = {}

    def close(self) -> None:
        with self._lock:
            for (center, station), moment in self._seen.items():   # what was not written yet
                if self._seen_written.get((center, station)) != moment:
                    self._db.execute(
                        "INSERT INTO stations (center, station, last_seen) VALUES (?, ?, ?) "
                        "ON CONFLICT (center, station) DO UPDATE SET last_seen = "
                        "MAX(last_seen, excluded.last_seen)", (center, station, moment.isoformat()))
            self._db.close()

    def _rows(self, where: str, args: tuple = ()) -> list[Alert]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM alerts WHERE {where} ORDER BY id", args).fetchall()
        return [Alert(*r) for r in rows]

    def open_alert(self, key: str) -> Alert | None:
        found = self._rows("key = ? AND resolved_at IS NULL", (key,))
        return found[0] if found else None

    def get(self, alert_id: int) -> Alert | None:
        found = self._rows("id = ?", (alert_id,))
        return found[0] if found else None

    def active(self, center: str | None = None) -> list[Alert]:
        if center is None:
            return self._rows("resolved_at IS NULL")
        return self._rows("resolved_at IS NULL AND center = ?", (center,))

    def all(self) -> list[Alert]:
        return self._rows("1 = 1")

    def insert(self, key: str, center: str, station: str, tank: str, kind: str, opened_at: str,
               detail: str) -> Alert:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO alerts (key, center, station, tank, kind, opened_at, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (key, center, station, tank, kind, opened_at, detail))
            alert_id = cur.lastrowid
        return self.get(alert_id)

    def resolve(self, alert_id: int, at: str) -> None:
        with self._lock:
            self._db.execute("UPDATE alerts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                             (at, alert_id))

    def ack(self, alert_id: int, at: str, by: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL",
                (at, by, alert_id))
        return cur.rowcount == 1

    def notified(self, alert_id: int, at: str) -> None:
        with self._lock:
            self._db.execute("UPDATE alerts SET notified_at = ?, notify_count = notify_count + 1 "
                             "WHERE id = ?", (at, alert_id))

    def seen(self, center: str, station: str, at: str) -> None:
        """A message from the station arrived at `at`. Kept in memory at once;
        written at most every SEEN_WRITE_S per station, so a burst of deliveries
        costs one durable write, not one fsync each (silence is judged in
        minutes, and a restart loses at most those seconds)."""
        key = (center, station)
        moment = datetime.fromisoformat(at)
        with self._lock:
            self._seen[key] = max(moment, self._seen.get(key, moment))
            written = self._seen_written.get(key)
            if written is not None and abs((moment - written).total_seconds()) < SEEN_WRITE_S:
                return
            self._db.execute("INSERT INTO stations (center, station, last_seen) VALUES (?, ?, ?) "
                             "ON CONFLICT (center, station) DO UPDATE SET last_seen = excluded.last_seen",
                             (center, station, self._seen[key].isoformat()))
            self._seen_written[key] = moment

    def stations(self) -> list[tuple[str, str, datetime]]:
        """Each station's last message: the stored time, or the newer one this
        process saw and has not written yet."""
        with self._lock:
            rows = self._db.execute("SELECT center, station, last_seen FROM stations").fetchall()
            newest = {(c, s): datetime.fromisoformat(t) for c, s, t in rows}
            for key, moment in self._seen.items():
                if key not in newest or moment > newest[key]:
                    newest[key] = moment
        return [(c, s, t) for (c, s), t in newest.items()]

    def tank_latest(self) -> dict[str, int]:
        """{center/station/tank: epoch ms of the newest cold-chain message handled}."""
        with self._lock:
            return dict(self._db.execute("SELECT tank_key, ts_ms FROM tank_latest").fetchall())

    def set_tank_latest(self, tank_key: str, ts_ms: int) -> None:
        with self._lock:
            self._db.execute("INSERT INTO tank_latest (tank_key, ts_ms) VALUES (?, ?) "
                             "ON CONFLICT (tank_key) DO UPDATE SET ts_ms = excluded.ts_ms "
                             "WHERE excluded.ts_ms > tank_latest.ts_ms", (tank_key, ts_ms))
