"""The alert engine when several hubs share one subscription (docs/scaling.md).

With `[mqtt] shared_group`, each delivery or tank batch reaches one hub of
the group, but an alert must be opened, notified and re-notified once. So:

- one hub runs the engine: the one holding an exclusive lock on
  `DATA_DIR/alerts.lock` (the hubs of a group share their data folder).
  The others stand by and try the lock every few seconds: when the hub
  running the alerts stops, another takes over within that time;
- cold-chain changes and station status are not shared subscriptions, so
  the engine's hub sees every one of them;
- every hub writes when it last heard from each station into the shared
  alert store (at most every few seconds per station), so a station whose
  messages went to other hubs is not taken for silent;
- integrity findings are appended by whichever hub found them to the shared
  `DATA_DIR/integrity.jsonl`; the engine's hub reads the new lines on each
  tick and raises the alerts.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path

from milk_common.contract import parse_station_topic

log = logging.getLogger(__name__)

SEEN_EVERY_S = 5.0          # silence is measured in minutes
STANDBY_RETRY_S = 5.0


class Leadership:
    """An exclusive, non-blocking flock: held until released or the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_take(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)      # closing drops the lock
            self._fd = None


class SeenRecorder:
    """An ingest observer: each station's last message time into the shared
    alert store, at most every `every_s` per station (not a write per message)."""

    def __init__(self, store, zone, every_s: float = SEEN_EVERY_S) -> None:
        self.store = store
        self.zone = zone
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}

    def __call__(self, topic: str, payload: bytes) -> None:
        parts = parse_station_topic(topic)
        if parts is None or parts.kind == "status":   # an offline will is not a sign of life
            return
        key = (parts.center, parts.station)
        now = time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return
        self._last[key] = now
        self.store.seen(parts.center, parts.station, datetime.now(self.zone).isoformat())


class FindingsTail:
    """The integrity findings appended to a JSON-lines file since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = self._size()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def skip_to_end(self) -> None:
        self.offset = self._size()

    def new(self) -> list[dict]:
        if self._size() <= self.offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        complete = data[:data.rfind(b"\n") + 1]       # a line being written waits
        self.offset += len(complete)
        out = []
        for raw in complete.splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                log.warning("unreadable line in %s", self.path)
        return out


def attach_group_alerts(config, ingest, start_engine):
    """Stand by for the group's alerts; `start_engine()` -> (engine, close)
    builds this hub's engine once it holds the lock. Returns a stop function."""
    from hub.alerts.store import AlertStore
    data = Path(config.data_dir)
    ingest.observers.append(SeenRecorder(AlertStore(data / "alerts.sqlite3"), config.zone))
    leadership = Leadership(data / "alerts.lock")
    findings = FindingsTail(data / "integrity.jsonl")
    stop = threading.Event()
    running: dict = {}

    def loop():
        wait = 0.0
        while not stop.wait(wait):
            try:
                if "engine" not in running:
                    wait = STANDBY_RETRY_S
                    if not leadership.try_take():
                        continue
                    engine, close = start_engine()
                    running.update(engine=engine, close=close)
                    ingest.observers.append(lambda topic, payload: engine.observe(topic, payload))
                    findings.skip_to_end()
                    log.info("this hub (%s) runs the alerts of group %s", config.mqtt.client_id,
                             config.mqtt.shared_group)
                engine = running["engine"]
                wait = config.alerts.tick_s
                for f in findings.new():
                    engine.finding(f.get("center", ""), f.get("station", ""), str(f.get("problem", "")),
                                   f.get("seq"), f.get("detail", ""))
                engine.tick()
            except Exception:
                log.exception("alert tick failed")

    thread = threading.Thread(target=loop, name="alerts", daemon=True)
    thread.start()

    def stop_alerts():
        stop.set()
        thread.join(5)
        if "close" in running:
            running["close"]()
        leadership.release()
    return stop_alerts
