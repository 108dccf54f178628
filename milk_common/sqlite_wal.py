"""Switching an SQLite database to WAL when several processes open it at once.

Hubs sharing a data folder (docs/scaling.md) open the same files together at
start-up. Changing the journal mode needs an exclusive lock, and SQLite may
answer SQLITE_BUSY at once, without waiting out the connection's busy
timeout, while another connection makes the same change: one of two hubs
started together then stopped with "database is locked". The pragma is
retried instead, for as long as the connection would wait for any lock.
"""

from __future__ import annotations

import sqlite3
import time

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def use_wal(db: sqlite3.Connection, wait_s: float = 30.0, sleep=time.sleep) -> None:
    """PRAGMA journal_mode=WAL, retried while another connection holds the lock."""
    deadline = time.monotonic() + wait_s
    pause_s = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY or time.monotonic() >= deadline:
                raise
        sleep(pause_s)
        pause_s = min(pause_s * 2, 0.5)
