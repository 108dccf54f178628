"""The hub's producer registry, the authoritative one, in `DATA_DIR/registry.sqlite3`.

`milk-hub producers import` fills it (merge by default, `--replace` to drop
the codes a file lacks); `milk-hub registry publish` sends it to a center's
stations without phones and notification URLs; payments and notifications
read names, phones and Apprise URLs from it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from milk_common.contract.registry import (ImportSummary, LabFat, Producer, merge_producers)
from milk_common.sqlite_wal import use_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS producer (
    code   TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    phone  TEXT,                 -- E.164
    notify TEXT                  -- Apprise URL
);
CREATE TABLE IF NOT EXISTS lab_fat (
    code      TEXT NOT NULL,
    tested_on TEXT NOT NULL,     -- ISO date of the Gerber test
    fat_pct   TEXT NOT NULL,     -- decimal as text
    PRIMARY KEY (code, tested_on)
);
"""


def registry_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "registry.sqlite3"


class ProducerRegistry:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        use_wal(self.db)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def all(self) -> list[Producer]:
        return [Producer(c, n, bool(a), p, u) for c, n, a, p, u in self.db.execute(
            "SELECT code, name, active, phone, notify FROM producer ORDER BY code")]

    def get(self, code: str) -> Producer | None:
        row = self.db.execute("SELECT code, name, active, phone, notify FROM producer WHERE code = ?",
                              (code,)).fetchone()
        return Producer(row[0], row[1], bool(row[2]), row[3], row[4]) if row else None

    def lab(self) -> list[tuple[str, LabFat]]:
        from datetime import date
        from decimal import Decimal
        return [(c, LabFat(Decimal(f), date.fromisoformat(t))) for c, t, f in self.db.execute(
            "SELECT code, tested_on, fat_pct FROM lab_fat ORDER BY code, tested_on")]

    def import_producers(self, producers: Iterable[Producer], lab: Iterable[tuple[str, LabFat]], *,
                         replace: bool = False, kept_fields: Iterable[str] = ()) -> ImportSummary:
        """Merge (or replace with) `producers` in one transaction: all or nothing.
        Lab results are added to the history either way."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            merged, summary = merge_producers(self.all(), producers, replace=replace,
                                              kept_fields=kept_fields)
            self.db.execute("DELETE FROM producer")
            self.db.executemany("INSERT INTO producer VALUES (?, ?, ?, ?, ?)",
                                [(p.code, p.name, int(p.active), p.phone, p.notify) for p in merged])
            self.db.executemany("INSERT OR REPLACE INTO lab_fat VALUES (?, ?, ?)",
                                [(code, r.tested_on.isoformat(), str(r.fat_pct)) for code, r in lab])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return summary
