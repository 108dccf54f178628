"""Per-delivery messages from `milk-hub ingest` (`[notify] deliveries = true`).

When the hub has stored a delivery, the producer gets a short message with
the litres, the TS and the receipt's verification code, through the Apprise
URL of the hub's registry (`notify` column). The bench has no network of its
own to count on; the hub does.

The ingest must never wait for, or fail because of, a message: its observer
only hands the stored payload to a worker thread (a few microseconds; see
bench/notify_bench.py), which writes the message into
`DATA_DIR/notify-deliveries.sqlite3` in one transaction per batch, keyed by
the delivery's id (a delivery the station sends again is not messaged
twice), and sends it. A failed send stays queued and is tried again with a
growing wait (`[notify] retry_min_s` doubling up to `retry_max_s`), across
restarts. Several ingest processes may share the folder: a message is
claimed with a lease before it is sent. The one gap, accepted on purpose: a
hub killed in the milliseconds between storing a delivery and queuing its
message loses that message (never the delivery).
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hub.notify.messages import delivery_message
from hub.notify.send import scheme_of, send_apprise
from milk_common.sqlite_wal import use_wal

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_message (
    id TEXT PRIMARY KEY,              -- the delivery's id: one message per delivery, ever
    producer TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,             -- pending, sent
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,           -- epoch seconds; also the lease while one process sends
    last_error TEXT,
    queued_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS delivery_message_due ON delivery_message (status, next_try);
"""
LEASE_S = 120.0   # a process that died mid-send gives the message back after this


class DeliveryNotifier:
    def __init__(self, path: str | Path, lookup: Callable[[str], tuple[str, str] | None], *,
                 tz, lang: str = "es", send: Callable[[str, str, str], str | None] = send_apprise,
                 retry_min_s: float = 30.0, retry_max_s: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        """`lookup(producer)` -> (name, Apprise URL), or None when the producer has no URL."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lookup, self.tz, self.lang, self.send = lookup, tz, lang, send
        self.retry_min_s, self.retry_max_s, self.clock = retry_min_s, retry_max_s, clock
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        use_wal(self.db)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the ingest side: quick, never raises
    def observe(self, topic: str, payload: bytes) -> None:
        """The ingest's observer: a stored message; only deliveries are kept (for the worker)."""
        if topic.endswith("/delivery"):
            self._inbox.put(payload)
            self._wake.set()

    def _drain(self) -> None:
        records = []
        while True:
            try:
                payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            try:
                record = json.loads(payload)
                if isinstance(record, dict):
                    records.append(record)
            except ValueError:      # stored by the ingest, so valid; never let it stop the worker
                log.warning("per-delivery notification: not a JSON object")
        if records:
            self.enqueue_many(records)

    def enqueue(self, record: dict) -> bool:
        return self.enqueue_many([record]) == 1

    def enqueue_many(self, records: list[dict]) -> int:
        """Queue the message of each stored delivery, in one transaction; how many were
        new (a void, a producer without URL, or a delivery queued before give none)."""
        added = 0
        now = self.clock()
        contacts: dict[str, tuple[str, str] | None] = {}    # one registry read per producer and batch
        with self._lock:
            self.db.execute("BEGIN")
            try:
                for record in records:
                    ident = record.get("id")
                    if not ident or record.get("kind", "delivery") == "void":
                        continue
                    if self.db.execute("SELECT 1 FROM delivery_message WHERE id = ?", (ident,)).fetchone():
                        continue
                    code = str(record.get("producer"))
                    if code not in contacts:
                        contacts[code] = self.lookup(code)
                    found = contacts[code]
                    if found is None:
                        continue
                    name, url = found
                    try:
                        title, body = delivery_message(record, name, self.tz, self.lang)
                    except (KeyError, TypeError, ValueError) as exc:
                        log.warning("delivery %s: no message (%s)", ident, exc)
                        continue
                    self.db.execute(
                        "INSERT OR IGNORE INTO delivery_message (id, producer, url, title, body, status, "
                        "next_try, queued_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                        (ident, record["producer"], url, title, body, now, now))
                    added += 1
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return added

    # -- the sending side
    def _claim(self) -> tuple | None:
        now = self.clock()
        with self._lock:
            row = self.db.execute(
                "SELECT id, producer, url, title, body, attempts, next_try FROM delivery_message "
                "WHERE status = 'pending' AND next_try <= ? ORDER BY next_try LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            claimed = self.db.execute(
                "UPDATE delivery_message SET next_try = ? WHERE id = ? AND status = 'pending' AND next_try = ?",
                (now + LEASE_S, row[0], row[6])).rowcount
        return row if claimed else None

    def send_due(self) -> int:
        """Send every message now due; returns how many were sent. Failures are logged,
        kept and given a later `next_try`."""
        self._drain()
        sent = 0
        while not self._stop.is_set():
            row = self._claim()
            if row is None:
                return sent
            ident, producer, url, title, body, attempts, _ = row
            try:
                error = self.send(url, title, body)
            except Exception as exc:        # Apprise or a plugin raising: same as a failed send
                error = f"{exc.__class__.__name__}: {exc}"
            now = self.clock()
            with self._lock:
                if error is None:
                    self.db.execute("UPDATE delivery_message SET status = 'sent', sent_at = ?, attempts = ?, "
                                    "last_error = NULL WHERE id = ?", (now, attempts + 1, ident))
                    sent += 1
                else:
                    wait = min(self.retry_min_s * 2 ** attempts, self.retry_max_s)
                    self.db.execute("UPDATE delivery_message SET attempts = ?, next_try = ?, last_error = ? "
                                    "WHERE id = ?", (attempts + 1, now + wait, error, ident))
                    log.warning("message for delivery %s of %s (%s) failed, next try in %.0f s: %s",
                                ident, producer, scheme_of(url), wait, error)
        return sent

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.db.execute("SELECT status, COUNT(*) FROM delivery_message GROUP BY status"))

    def start(self, poll_s: float = 5.0) -> None:
        def loop():
            while not self._stop.is_set():
                self._wake.clear()      # before the work: a wake during it is not lost
                try:
                    self.send_due()
                except Exception:
                    log.exception("per-delivery notifications")
                self._wake.wait(poll_s)
        self._thread = threading.Thread(target=loop, name="notify-deliveries", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self._drain()          # what the ingest handed over is queued before we go
        finally:
            self.db.close()


def registry_lookup(data_dir: str | Path) -> Callable[[str], tuple[str, str] | None]:
    """(name, notify URL) of a producer from the hub's registry, read when asked
    (an import while the hub runs is seen at the next delivery)."""
    from hub.producers.registry import ProducerRegistry, registry_path
    registry = ProducerRegistry(registry_path(data_dir))
    lock = threading.Lock()

    def lookup(code: str) -> tuple[str, str] | None:
        with lock:
            producer = registry.get(code)
        return (producer.name, producer.notify) if producer is not None and producer.notify else None
    return lookup


def attach_delivery_notifications(config, ingest) -> Callable[[], None]:
    """Observe the ingest's stored deliveries when `[notify] deliveries`; returns a stop function."""
    nc = config.notify
    if not nc.deliveries:
        return lambda: None
    notifier = DeliveryNotifier(Path(config.data_dir) / "notify-deliveries.sqlite3",
                                registry_lookup(config.data_dir), tz=config.zone, lang=nc.language,
                                retry_min_s=nc.retry_min_s, retry_max_s=nc.retry_max_s)
    ingest.observers.append(notifier.observe)
    notifier.start()
    return notifier.stop
