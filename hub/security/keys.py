"""The hub's station keys: inline ones from hub.toml plus the key store file.

`milk-hub provision station` adds a key to the store (JSON, written
atomically); `provision revoke` stamps it with the revocation time. The
ingest re-reads the file when it changes (checked at most once a second),
so a station provisioned while the hub runs is believed without a restart.

A revoked key still verifies the records its station sealed *before* the
revocation (an honest backlog that was waiting in the outbox); a record
stamped at or after it is refused, so a stolen Pi's key forges nothing new.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from milk_common.integrity import parse_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationKey:
    key: bytes
    revoked_at: datetime | None = None




def read_store(path: Path) -> dict[str, dict]:
    """{"center/station": {"key": hex, "created_at": iso, "revoked_at": iso|None}}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return dict(data.get("stations", {}))


def write_store(path: Path, stations: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"stations": stations}, fh, indent=1, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    # `provision` runs as root, the hub as its own user: the store keeps the
    # owner it had, or takes the data folder's (the hub's), so the hub can read it.
    try:
        owner = path.stat() if path.exists() else path.parent.stat()
        os.chown(tmp, owner.st_uid, owner.st_gid)
    except PermissionError:
        pass        # not root: the file is ours, as is the hub that reads it
    os.replace(tmp, path)


def parse_store(stations: dict[str, dict]) -> dict[str, StationKey]:
    out = {}
    for name, entry in stations.items():
        revoked = entry.get("revoked_at")
        out[name] = StationKey(parse_key(entry["key"]),
                               datetime.fromisoformat(revoked) if revoked else None)
    return out


class StationKeys:
    """What the seal check asks: the key of a station and when it was revoked."""

    def __init__(self, inline: dict[str, str] | None = None, store: Path | None = None,
                 recheck_s: float = 1.0) -> None:
        self._inline = {name: StationKey(parse_key(text)) for name, text in (inline or {}).items()}
        self.store = store
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._from_store: dict[str, StationKey] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._reload()

    def _reload(self) -> None:
        if self.store is None:
            return
        try:
            mtime = self.store.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            try:
                self._from_store = parse_store(read_store(self.store)) if mtime is not None else {}
            except (OSError, ValueError, KeyError) as exc:
                # A running hub keeps the keys it had rather than die on a bad edit.
                log.error("station key store %s unreadable, keeping the previous keys: %s", self.store, exc)
                if not self._from_store and self._mtime is None:
                    raise
            self._mtime = mtime

    def refresh(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.recheck_s:
                self._checked = now
                self._reload()

    def lookup(self, center: str, station: str) -> StationKey | None:
        self.refresh()
        name = f"{center}/{station}"
        # The store wins: it is where revocations are written.
        return self._from_store.get(name) or self._inline.get(name)

    def count(self) -> int:
        self.refresh()
        return len(set(self._inline) | set(self._from_store))


def refuse_without_keys(config) -> None:
    """A hub that requires signatures but knows no station would refuse every
    delivery, silently from the stations' side: refuse to start instead."""
    from milk_common.errors import UserError
    from milk_common.i18n import process_language, translate
    try:
        known = StationKeys(config.integrity.keys, config.keys_path).count()
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"[integrity] keys_file: {config.keys_path}: {exc}") from None
    if config.integrity.require_signature and known == 0:
        raise UserError(translate("hub", "security.no_station_keys", process_language(),
                                  store=str(config.keys_path)))
