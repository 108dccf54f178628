"""The ingest's side of recovery: note what each stored batch holds, and
say which replay requests to publish (docs/recovery.md)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from milk_common.contract import DeliveryV1, StatusV1, TankV1, replay_payload, replay_topic

from hub.config import HubRecovery
from hub.recovery.index import SeqIndex
from hub.recovery.plan import Settings

log = logging.getLogger(__name__)

INDEX_FILE = "recovery.sqlite3"


class RecoveryWatch:
    def __init__(self, settings: HubRecovery, data_dir: Path) -> None:
        self.settings = settings
        self.index = SeqIndex(Path(data_dir) / INDEX_FILE)
        self.plan = Settings(ask_after_s=settings.ask_after_s, retry_s=settings.retry_s,
                             max_outstanding=settings.max_outstanding)
        self.requested = 0          # records asked for again, for the status file
        self._last_tick = 0.0

    def handled(self, messages) -> None:
        """A batch is stored (or kept as dead letters, which a re-send would
        only repeat): its sequence numbers and the stations' announcements."""
        stored, statuses = [], []
        for m in messages:
            if isinstance(m, DeliveryV1):
                stored.append((m.center, m.station, m.epoch, "delivery", m.seq))
            elif isinstance(m, TankV1):
                if m.seq is not None:
                    stored.append((m.center, m.station, m.epoch, "tank", m.seq))
            elif isinstance(m, StatusV1):
                statuses.append((m.center, m.station, m.epoch, m.status == "online",
                                 m.last_seq, m.last_tank_seq))
        if stored or statuses:
            self.index.update(stored, statuses, time.time())

    def due(self, busy: bool) -> list[tuple[str, bytes]]:
        """(topic, payload) of the replay requests to publish now; none while
        the hub is still draining a backlog (what it lacks may be in it)."""
        now = time.monotonic()
        if not self.settings.enabled or busy or now - self._last_tick < self.settings.tick_s:
            return []
        self._last_tick = now
        out = []
        for r in self.index.due(time.time(), self.plan):
            out.append((replay_topic(r.center, r.station), json.dumps(replay_payload(
                r.center, r.station, r.epoch, r.kind, r.from_seq, r.to_seq)).encode()))
            self.requested += r.to_seq - r.from_seq + 1
            log.info("asking %s/%s for %s %d-%d again (epoch %s)", r.center, r.station, r.kind,
                     r.from_seq, r.to_seq, r.epoch)
        return out
