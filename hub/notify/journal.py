"""What was sent: `DIR/notifications.jsonl`, one JSON object per attempt.

Keyed by (period, producer): the last line of a key says where it stands. A
`sent` key is never sent again; a `failed` one is tried on the next run.
Append-only, flushed and synced per line, so a crash mid-run loses at most
the line being written (that message is then sent again: at least once,
never silently dropped)."""

from __future__ import annotations

import json
import os
from pathlib import Path


class NotificationJournal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._state: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    key = (entry["period"], entry["producer"])
                except (ValueError, KeyError, TypeError):
                    continue      # a torn last line after a crash
                if self._state.get(key, {}).get("status") != "sent":
                    self._state[key] = entry

    def status(self, period: str, producer: str) -> str | None:
        entry = self._state.get((period, producer))
        return entry["status"] if entry else None

    def attempts(self, period: str, producer: str) -> int:
        entry = self._state.get((period, producer))
        return int(entry.get("attempt", 0)) if entry else 0

    def record(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        key = (entry["period"], entry["producer"])
        if self._state.get(key, {}).get("status") != "sent":
            self._state[key] = entry
