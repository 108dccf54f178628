"""The producer registry at the station: codes, names and lab fat results.

The CSV and message formats are the contract's (`milk_common.contract.registry`);
this module keeps them in the station's own SQLite file.

An unknown code is refused at the bench (a typo must not pay the wrong
producer). The registry is loaded from a CSV by the officer or pushed by the
hub (retained `registry/1` message on `milk/v1/{center}/registry`), and
kept in its own SQLite file so it survives restarts and works offline.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from milk_common.contract.registry import (ImportSummary, LabFat, Producer, RegistryError,
                                           merge_producers, parse_registry_rows, read_registry_csv)
SCHEMA = """
CREATE TABLE IF NOT EXISTS producers (
    code   TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS lab_fat (
    code      TEXT NOT NULL,
    tested_on TEXT NOT NULL,          -- ISO date of the Gerber test
    fat_pct   TEXT NOT NULL,          -- decimal as text
    PRIMARY KEY (code, tested_on)
);
"""


class Registry:
    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, code: str) -> Producer | None:
        with self._lock:
            row = self._db.execute("SELECT code, name, active FROM producers WHERE code = ?",
                                   (code,)).fetchone()
        return Producer(row[0], row[1], bool(row[2])) if row else None

    def all(self) -> list[Producer]:
        with self._lock:
            rows = self._db.execute("SELECT code, name, active FROM producers ORDER BY code").fetchall()
        return [Producer(c, n, bool(a)) for c, n, a in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM producers").fetchone()[0]

    def lab_fat(self, code: str, on: date, valid_days: int) -> LabFat | None:
        """The latest lab fat test of the producer still valid on `on`."""
        with self._lock:
            row = self._db.execute(
                "SELECT fat_pct, tested_on FROM lab_fat WHERE code = ? AND tested_on <= ? "
                "ORDER BY tested_on DESC LIMIT 1", (code, on.isoformat())).fetchone()
        if not row:
            return None
        tested_on = date.fromisoformat(row[1])
        if on - tested_on > timedelta(days=valid_days):
            return None
        return LabFat(Decimal(row[0]), tested_on)

    def replace(self, producers: list[Producer], lab: list[tuple[str, LabFat]],
                keep_lab: bool = True) -> None:
        """Replace the producer list (lab results are added, history kept)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM producers")
                self._db.executemany("INSERT INTO producers (code, name, active) VALUES (?, ?, ?)",
                                     [(p.code, p.name, int(p.active)) for p in producers])
                if not keep_lab:
                    self._db.execute("DELETE FROM lab_fat")
                self._db.executemany(
                    "INSERT OR REPLACE INTO lab_fat (code, tested_on, fat_pct) VALUES (?, ?, ?)",
                    [(code, l.tested_on.isoformat(), str(l.fat_pct)) for code, l in lab])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def import_csv(self, path: str | Path, replace: bool = False) -> ImportSummary:
        """Merge the CSV into the registry (new codes added, known ones updated, the rest
        kept); `replace` makes the file the whole registry. All or nothing."""
        producers, lab = read_registry_csv(path)
        # A bench keeps no phones or notification URLs (they stay at the hub).
        producers = [Producer(p.code, p.name, p.active) for p in producers]
        merged, summary = merge_producers(self.all(), producers, replace=replace)
        self.replace(merged, lab)
        return summary

    def apply_hub_message(self, payload: dict) -> int:
        """A `registry/1` message from the hub; raises ValueError (RegistryError) when malformed."""
        if payload.get("schema") != "registry/1" or not isinstance(payload.get("producers"), list):
            raise RegistryError("not_message")
        rows = [{k: "" if v is None else str(v) for k, v in item.items()}
                for item in payload["producers"] if isinstance(item, dict)]
        producers, lab = parse_registry_rows("hub registry", ((i + 1, r) for i, r in enumerate(rows)))
        self.replace(producers, lab)
        return len(producers)

