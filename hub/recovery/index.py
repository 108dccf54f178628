"""The hub's index of stored sequence numbers (SQLite in the data folder).

Kept in memory and written once per stored batch, in one transaction, so
recovery costs the ingest a few statements per batch, not per message.
Several hubs may share the file (`[mqtt] shared_group`, docs/scaling.md):
each write transaction is taken with BEGIN IMMEDIATE and first reads back
the streams it touches, so what another hub stored or asked for meanwhile
is merged, never overwritten. The file is derivable: losing it (a hub restored from an old backup) makes the
hub ask the stations for their records again, which they re-send unchanged
and InfluxDB stores on the same points.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hub.recovery import seqset
from hub.recovery.plan import Gap, Settings, Stream, plan, refresh_gaps
from milk_common.sqlite_wal import use_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS stored (            -- what the hub stored, as ranges of seq
    center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL, kind TEXT NOT NULL,
    lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    PRIMARY KEY (center, station, epoch, kind, lo));
CREATE TABLE IF NOT EXISTS streams (           -- the highest seq each station announced
    center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL, kind TEXT NOT NULL,
    announced INTEGER NOT NULL,
    PRIMARY KEY (center, station, epoch, kind));
CREATE TABLE IF NOT EXISTS gaps (              -- what is missing, since when, how often asked
    center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL, kind TEXT NOT NULL,
    lo INTEGER NOT NULL, hi INTEGER NOT NULL, since REAL NOT NULL, asked_at REAL,
    asks INTEGER NOT NULL,
    PRIMARY KEY (center, station, epoch, kind, lo));
CREATE TABLE IF NOT EXISTS stations (          -- each station's epoch now, and whether online
    center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL,
    online INTEGER NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (center, station));
"""

StreamKey = tuple[str, str, str, str]       # center, station, epoch, kind


@dataclass
class StationState:
    epoch: str
    online: bool
    seen_at: float


@dataclass(frozen=True)
class Request:
    center: str
    station: str
    epoch: str
    kind: str
    from_seq: int
    to_seq: int


class SeqIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # timeout: hubs sharing the data folder wait for each other's transactions.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=60)
        use_wal(self._db)
        # Derivable data: a lost last transaction only means asking again.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.streams: dict[StreamKey, Stream] = {}
        self.stations: dict[tuple[str, str], StationState] = {}
        self._load()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _stream(self, key: StreamKey) -> Stream:
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = Stream(*key)
        return stream

    def _load(self) -> None:
        for *key, lo, hi in self._db.execute("SELECT * FROM stored ORDER BY lo"):
            self._stream(tuple(key)).stored.append((lo, hi))
        for *key, announced in self._db.execute("SELECT * FROM streams"):
            self._stream(tuple(key)).announced = announced
        for *key, lo, hi, since, asked_at, asks in self._db.execute("SELECT * FROM gaps ORDER BY lo"):
            self._stream(tuple(key)).gaps.append(Gap(lo, hi, since, asked_at, asks))
        for center, station, epoch, online, seen_at in self._db.execute("SELECT * FROM stations"):
            self.stations[(center, station)] = StationState(epoch, bool(online), seen_at)

    def _reload(self, keys: set[StreamKey], stations: set[tuple[str, str]]) -> None:
        """Read these streams and stations back from the file (inside the
        write transaction): another hub of the group may have changed them."""
        db = self._db
        for key in keys:
            stream = self.streams[key] = Stream(*key)
            where = "center=? AND station=? AND epoch=? AND kind=?"
            stream.stored = [tuple(r) for r in db.execute(
                f"SELECT lo, hi FROM stored WHERE {where} ORDER BY lo", key)]
            row = db.execute(f"SELECT announced FROM streams WHERE {where}", key).fetchone()
            stream.announced = row[0] if row else 0
            stream.gaps = [Gap(*r) for r in db.execute(
                f"SELECT lo, hi, since, asked_at, asks FROM gaps WHERE {where} ORDER BY lo", key)]
        for center, station in stations:
            row = db.execute("SELECT epoch, online, seen_at FROM stations WHERE center=? AND station=?",
                             (center, station)).fetchone()
            if row:
                self.stations[(center, station)] = StationState(row[0], bool(row[1]), row[2])
            else:
                self.stations.pop((center, station), None)

    def _reload_all(self) -> None:
        """Every stream and station from the file (another hub may have added some)."""
        self.streams, self.stations = {}, {}
        self._load()

    def epoch_of(self, center: str, station: str) -> str:
        """The epoch a station announces now ("" before its first status with one)."""
        state = self.stations.get((center, station))
        return state.epoch if state else ""

    # -- what the ingest learnt -------------------------------------------
    def update(self, stored: list[tuple[str, str, str | None, str, int]],
               statuses: list[tuple[str, str, str | None, bool, int | None, int | None]],
               now: float) -> None:
        """One stored batch: `stored` (center, station, epoch, kind, seq) and
        `statuses` (center, station, epoch, online, last_seq, last_tank_seq),
        in arrival order. A record without an epoch (a station from before
        epochs) counts under the epoch its station announces."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._update(stored, statuses, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._reload_all()      # memory may hold what was not written
                raise

    def _update(self, stored, statuses, now: float) -> None:
        # First what the file says now about these stations and their streams.
        self._reload(set(), {(c, s) for c, s, *_ in statuses} | {(c, s) for c, s, *_ in stored})
        status_rows = []
        for center, station, epoch, online, last_seq, last_tank_seq in statuses:
            state = self.stations.get((center, station))
            status_rows.append((center, station, epoch or (state.epoch if state else ""), online,
                                last_seq, last_tank_seq))
        by_stream: dict[StreamKey, list[int]] = {}
        for center, station, epoch, kind, seq in stored:
            key = (center, station, epoch or self.epoch_of(center, station), kind)
            by_stream.setdefault(key, []).append(seq)
        touched = set(by_stream) | {(c, s, e, kind) for c, s, e, *_ in status_rows if e
                                    for kind in ("delivery", "tank")}
        self._reload(touched, set())
        changed: set[StreamKey] = set()
        stations_changed: set[tuple[str, str]] = set()
        for center, station, epoch, online, last_seq, last_tank_seq in status_rows:
            self.stations[(center, station)] = StationState(epoch, online, now)
            stations_changed.add((center, station))
            for kind, last in (("delivery", last_seq), ("tank", last_tank_seq)):
                if not epoch or last is None:
                    continue
                stream = self._stream((center, station, epoch, kind))
                if last > stream.announced:
                    stream.announced = last
                    changed.add(stream.key)
        for key, seqs in by_stream.items():
            stream = self._stream(key)
            stream.stored = seqset.add(stream.stored, seqs)
            changed.add(key)
        for key in changed:
            refresh_gaps(self.streams[key], now)
        if changed or stations_changed:
            self._save(changed, stations_changed)

    def due(self, now: float, settings: Settings) -> list[Request]:
        """Replay requests due now, for online stations' current epochs.

        Read from the file inside the transaction that records the asking,
        so of the hubs sharing it only one asks for a gap each time."""
        requests: list[Request] = []
        with self._lock:
            if not self._db.execute("SELECT 1 FROM gaps LIMIT 1").fetchone():
                return requests     # nothing missing anywhere: no write transaction
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._reload_all()
                changed = set()
                for key, stream in self.streams.items():
                    if not stream.gaps or not stream.epoch:
                        continue
                    state = self.stations.get((stream.center, stream.station))
                    if state is None or not state.online or state.epoch != stream.epoch:
                        continue
                    ranges = plan(stream, now, settings)
                    if ranges:
                        changed.add(key)
                        requests.extend(Request(*key, lo, hi) for lo, hi in ranges)
                if changed:
                    self._save(changed, set())
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._reload_all()
                raise
        return requests

    def _save(self, streams: set[StreamKey], stations: set[tuple[str, str]]) -> None:
        """Write these streams and stations (inside the caller's transaction)."""
        db = self._db
        for key in streams:
            stream = self.streams[key]
            db.execute("DELETE FROM stored WHERE center=? AND station=? AND epoch=? AND kind=?", key)
            db.executemany("INSERT INTO stored VALUES (?,?,?,?,?,?)",
                           [(*key, lo, hi) for lo, hi in stream.stored])
            db.execute("INSERT OR REPLACE INTO streams VALUES (?,?,?,?,?)", (*key, stream.announced))
            db.execute("DELETE FROM gaps WHERE center=? AND station=? AND epoch=? AND kind=?", key)
            db.executemany("INSERT INTO gaps VALUES (?,?,?,?,?,?,?,?,?)",
                           [(*key, g.lo, g.hi, g.since, g.asked_at, g.asks) for g in stream.gaps])
        for center, station in stations:
            state = self.stations[(center, station)]
            db.execute("INSERT OR REPLACE INTO stations VALUES (?,?,?,?,?)",
                       (center, station, state.epoch, int(state.online), state.seen_at))


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def gap_report(path: Path) -> list[dict]:
    """What is missing, per station, epoch and kind, read from the index file
    (without the ingest's lock: SQLite's WAL lets it read while the hub runs)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        current = {(c, s): (e, bool(o), seen) for c, s, e, o, seen in db.execute("SELECT * FROM stations")}
        announced = {tuple(k): a for *k, a in db.execute("SELECT * FROM streams")}
        stored: dict[StreamKey, list] = {}
        for *key, lo, hi in db.execute("SELECT * FROM stored ORDER BY lo"):
            stored.setdefault(tuple(key), []).append((lo, hi))
        rows: dict[StreamKey, dict] = {}
        for *key, lo, hi, since, asked_at, asks in db.execute(
                "SELECT * FROM gaps ORDER BY center, station, epoch, kind, lo"):
            key = tuple(key)
            epoch_now, online, seen = current.get(key[:2], ("", False, None))
            row = rows.setdefault(key, {
                "center": key[0], "station": key[1], "epoch": key[2], "kind": key[3],
                "current_epoch": key[2] == epoch_now, "station_online": online,
                "announced": announced.get(key, 0),
                "stored": seqset.count(stored.get(key, [])), "missing": 0, "ranges": []})
            row["missing"] += hi - lo + 1
            row["ranges"].append({"from_seq": lo, "to_seq": hi, "since": _iso(since),
                                  "asked_at": _iso(asked_at), "asks": asks})
        return list(rows.values())
    finally:
        db.close()
