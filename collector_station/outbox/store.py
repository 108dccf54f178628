"""The station's durable record and outbox (SQLite, WAL, synchronous=FULL).

A delivery is written here *before* anything else happens (display, receipt,
MQTT). The same transaction adds the message to the outbox; the publisher
marks it sent only when the broker acknowledged it (QoS 1 PUBACK). After a
crash, a power cut or an outage, unsent messages go out again in order with
the same payload, so the same stable id: the hub's writes are idempotent.

One connection guarded by a lock: the station writes a few rows a minute,
and SQLite serialises writers anyway.

Recovery (docs/recovery.md): the database gets a random sequence `epoch`
when it is created; deliveries and tank batches carry it with their `seq`,
and both are kept here, so the hub can ask for any of them again
(`requeue`) and get the very bytes first published.
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

from milk_common.contract import delivery_payload, station_topic, tank_payload
from milk_common.contract.payloads import TEMP_MAX_C, TEMP_MIN_C
from milk_common.integrity import GENESIS, SEAL_2, seal

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
    sent_at    TEXT,                        -- set on the broker's PUBACK
    ref        TEXT                         -- "delivery:SEQ" / "tank:SEQ": a record the hub may ask for
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
CREATE TABLE IF NOT EXISTS tank_messages (
    seq      INTEGER PRIMARY KEY,           -- the station's tank-batch sequence number (all tanks)
    tank     TEXT NOT NULL,
    payload  TEXT NOT NULL                  -- the tank/1 payload, as published
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Most records one replay request re-queues (the hub asks again for the rest).
REPLAY_MAX = 5000


def new_epoch() -> str:
    """A fresh sequence epoch: 16 random hex digits."""
    return uuid.uuid4().hex[:16]


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def sendable_temp(temp_c: float | None) -> float | None:
    """A tank reading as tank/1 carries it: one the contract cannot (a
    DS18B20 reads -55..125 °C, tank/1 takes -40..120) goes as no valid
    reading. The station database keeps the reading itself; refused by
    tank_payload, it would leave its samples unbatched and so stop every
    batch after it."""
    if temp_c is None or TEMP_MIN_C <= temp_c <= TEMP_MAX_C:
        return temp_c
    return None


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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "ref" not in columns:     # a database made before recovery existed
            self._db.execute("ALTER TABLE outbox ADD COLUMN ref TEXT")
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_ref ON outbox (ref) WHERE sent_at IS NULL")
        # The epoch is made once, with the database: a new database (a
        # reinstalled Pi) starts a new one, so its seq 1 is not taken for a gap.
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", (new_epoch(),))
        self.epoch: str = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]

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
                                                   "kind": "delivery", "refers_to": None, **record,
                                                   "epoch": self.epoch, "seal": SEAL_2}),
                               prev_hash, key)
                text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                self._db.execute(
                    "INSERT INTO deliveries (seq, id, producer, ts, hash, record) VALUES (?, ?, ?, ?, ?, ?)",
                    (payload["seq"], payload["id"], payload["producer"], payload["ts"], payload["hash"], text))
                self._db.execute(
                    "INSERT INTO outbox (topic, payload, created_at, ref) VALUES (?, ?, ?, ?)",
                    (topic, text.encode(), utc_now_iso(), f"delivery:{payload['seq']}"))
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

    def last_tank_seq(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM tank_messages").fetchone()[0]

    def tank_messages(self, after_seq: int = 0) -> list[dict]:
        """Stored tank/1 batches in sequence order."""
        with self._lock:
            rows = self._db.execute("SELECT payload FROM tank_messages WHERE seq > ? ORDER BY seq",
                                    (after_seq,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- recovery -------------------------------------------------------
    def requeue(self, kind: str, from_seq: int, to_seq: int, limit: int = REPLAY_MAX) -> int:
        """Queue the stored records `kind` ("delivery" or "tank") with seq in
        [from_seq, to_seq] again, byte for byte as first published; a record
        already waiting in the outbox is not queued twice. Returns how many."""
        table, column = {"delivery": ("deliveries", "record"), "tank": ("tank_messages", "payload")}[kind]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    f"SELECT t.seq, t.{column} FROM {table} t WHERE t.seq BETWEEN ? AND ? "
                    "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.sent_at IS NULL AND o.ref = ?"
                    " || t.seq) ORDER BY t.seq LIMIT ?",
                    (from_seq, to_seq, f"{kind}:", limit)).fetchall()
                now = utc_now_iso()
                self._db.executemany(
                    "INSERT INTO outbox (topic, payload, created_at, ref) VALUES (?, ?, ?, ?)",
                    [(self._topic_of(kind, text), text.encode(), now, f"{kind}:{seq}")
                     for seq, text in rows])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    @staticmethod
    def _topic_of(kind: str, text: str) -> str:
        record = json.loads(text)
        if kind == "delivery":
            return station_topic(record["center"], record["station"], "delivery")
        return station_topic(record["center"], record["station"], "tank", record["tank"])

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
                        (seq,) = self._db.execute(
                            "SELECT COALESCE(MAX(seq), 0) + 1 FROM tank_messages").fetchone()
                        payload = tank_payload(envelope["center"], envelope["station"], tank,
                                               [{"ts": ts, "temp_c": sendable_temp(t)}
                                                for _, ts, t in chunk],
                                               seq=seq, epoch=self.epoch)
                        text = json.dumps(payload, separators=(",", ":"))
                        self._db.execute("INSERT INTO tank_messages (seq, tank, payload) VALUES (?, ?, ?)",
                                         (seq, tank, text))
                        self._db.execute(
                            "INSERT INTO outbox (topic, payload, created_at, ref) VALUES (?, ?, ?, ?)",
                            (topic_for_tank(tank), text.encode(), utc_now_iso(), f"tank:{seq}"))
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

    def unsent_deliveries(self) -> int:
        """Delivery records not yet acknowledged by the broker (the console's
        "12 entregas guardadas"), tank batches and status messages aside."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND topic LIKE '%/delivery'").fetchone()
        return count

    def prune_sent(self, older_than_iso: str) -> int:
        """Drop outbox copies already acknowledged (the deliveries table keeps the record)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                                   (older_than_iso,))
            self._db.execute("DELETE FROM tank_samples WHERE batched = 1 AND n NOT IN "
                             "(SELECT n FROM tank_samples ORDER BY n DESC LIMIT 10000)")
        return cur.rowcount
