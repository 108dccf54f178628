"""The station's durable record and outbox (SQLite, WAL, synchronous=FULL).

A delivery is written here *before* anything else happens (display, receipt,
MQTT). The same transaction adds the message to the outbox; the publisher
marks it sent only when the broker acknowledged it (QoS 1 PUBACK). After a
crash, a power cut or an outage, unsent messages go out again in order with
the same payload, so the same stable id: the hub's writes are idempotent.

One connection guarded by a lock: the station writes a few rows a minute,
and SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from milk_common.contract import delivery_payload, tank_payload
from milk_common.integrity import GENESIS, seal

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq      INTEGER PRIMARY KEY,          -- the station's sequence number
    id       TEXT NOT NULL UNIQUE,         -- stable across retries, never reused
    producer TEXT NOT NULL,
    ts       TEXT NOT NULL,                -- ISO 8601 with offset
    hash     TEXT NOT NULL,                -- chain hash (milk_common.integrity)
    record   TEXT NOT NULL                 -- the delivery/1 payload, as published
);
CREATE TABLE IF NOT EXISTS outbox (
    n          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT                         -- set on the broker's PUBACK
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (n) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS tank_samples (
    n       INTEGER PRIMARY KEY AUTOINCREMENT,
    tank    TEXT NOT NULL,
    ts      TEXT NOT NULL,
    temp_c  REAL,                           -- NULL: no valid reading
    batched INTEGER NOT NULL DEFAULT 0      -- 1 once copied into an outbox message
);
CREATE INDEX IF NOT EXISTS tank_unbatched ON tank_samples (tank, n) WHERE batched = 0;
"""


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class OutboxMessage:
    n: int
    topic: str
    payload: bytes


class Outbox:
    """The station database: deliveries, tank samples and the MQTT outbox."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                   isolation_level=None, timeout=30)
        # WAL keeps readers off the writer's back; FULL makes a commit
        # survive a power cut (NORMAL may lose the last transactions).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- deliveries -------------------------------------------------------
    def record_delivery(self, record: dict, topic: str, key: bytes) -> dict:
        """Store one delivery and queue it, atomically; returns the final payload.

        `record` has every field but `id`, `seq` and the seal, which are
        assigned here inside the transaction, so a sequence number is never
        used twice and the chain has no fork: each record's hash covers the
        previous one's, signed with the station's `key`.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT seq, hash FROM deliveries ORDER BY seq DESC LIMIT 1").fetchone()
                last, prev_hash = row if row else (0, GENESIS)
                payload = seal(delivery_payload(**{"id": uuid.uuid4().hex, "seq": last + 1,
                                                   "kind": "delivery", "refers_to": None, **record}),
                               prev_hash, key)
                text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                self._db.execute(
                    "INSERT INTO deliveries (seq, id, producer, ts, hash, record) VALUES (?, ?, ?, ?, ?, ?)",
                    (payload["seq"], payload["id"], payload["producer"], payload["ts"], payload["hash"], text))
                self._db.execute(
                    "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
                    (topic, text.encode(), utc_now_iso()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return payload

    def deliveries(self, after_seq: int = 0, limit: int | None = None) -> list[dict]:
        """Stored delivery records in sequence order."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM deliveries WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (after_seq, -1 if limit is None else limit)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def last_seq(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM deliveries").fetchone()[0]

    def delivery(self, ident: str) -> dict | None:
        """One record by id, or by sequence number given as digits."""
        with self._lock:
            if ident.isdigit():
                row = self._db.execute("SELECT record FROM deliveries WHERE seq = ?", (int(ident),)).fetchone()
            else:
                row = self._db.execute("SELECT record FROM deliveries WHERE id = ?", (ident,)).fetchone()
        return json.loads(row[0]) if row else None

    # -- tank samples -----------------------------------------------------
    def add_tank_sample(self, tank: str, ts: str, temp_c: float | None) -> None:
        with self._lock:
            self._db.execute("INSERT INTO tank_samples (tank, ts, temp_c) VALUES (?, ?, ?)",
                             (tank, ts, temp_c))

    def batch_tank_samples(self, topic_for_tank, envelope: dict, batch_size: int,
                           force: bool = False) -> int:
        """Move unbatched samples into outbox messages of `batch_size` samples.

        With `force`, a partial batch goes too (the sampler's flush interval,
        shutdown). Returns the number of messages queued.
        """
        queued = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                tanks = [r[0] for r in self._db.execute(
                    "SELECT DISTINCT tank FROM tank_samples WHERE batched = 0")]
                for tank in tanks:
                    rows = self._db.execute(
                        "SELECT n, ts, temp_c FROM tank_samples WHERE batched = 0 AND tank = ? ORDER BY n",
                        (tank,)).fetchall()
                    for start in range(0, len(rows), batch_size):
                        chunk = rows[start:start + batch_size]
                        if len(chunk) < batch_size and not force:
                            break
                        payload = tank_payload(envelope["center"], envelope["station"], tank,
                                               [{"ts": ts, "temp_c": t} for _, ts, t in chunk])
                        self._db.execute(
                            "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
                            (topic_for_tank(tank), json.dumps(payload, separators=(",", ":")).encode(),
                             utc_now_iso()))
                        self._db.executemany("UPDATE tank_samples SET batched = 1 WHERE n = ?",
                                             [(n,) for n, _, _ in chunk])
                        queued += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return queued

    # -- outbox -----------------------------------------------------------
    def enqueue(self, topic: str, payload: dict) -> None:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
                             (topic, text.encode(), utc_now_iso()))

    def unsent(self, after_n: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Unsent messages in the order they were recorded."""
        with self._lock:
            rows = self._db.execute(
                "SELECT n, topic, payload FROM outbox WHERE sent_at IS NULL AND n > ? ORDER BY n LIMIT ?",
                (after_n, limit)).fetchall()
        return [OutboxMessage(n, topic, bytes(payload)) for n, topic, payload in rows]

    def mark_sent(self, numbers: Iterable[int]) -> None:
        numbers = list(numbers)
        if not numbers:
            return
        now = utc_now_iso()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE outbox SET sent_at = ? WHERE n = ? AND sent_at IS NULL",
                                 [(now, n) for n in numbers])
            self._db.execute("COMMIT")

    def backlog(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        return count

    def prune_sent(self, older_than_iso: str) -> int:
        """Drop outbox copies already acknowledged (the deliveries table keeps the record)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                                   (older_than_iso,))
            self._db.execute("DELETE FROM tank_samples WHERE batched = 1 AND n NOT IN "
                             "(SELECT n FROM tank_samples ORDER BY n DESC LIMIT 10000)")
        return cur.rowcount
