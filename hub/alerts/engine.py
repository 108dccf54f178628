"""The alert rules: which messages open, de-duplicate, re-notify and resolve alerts.

Time is passed in (`now`), so tests drive hours in milliseconds. Alerts
come from the stations' cold-chain state changes and warnings (the station
runs the state machine, so an empty tank never raises anything here), and
from the stations' silence: the broker's last will (`status` offline) or no
message at all for `silence_s`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from milk_common.contract import COLDCHAIN_WARNINGS, ColdchainV1, StatusV1, alerts_payload, decode_station_message
from milk_common.i18n import translate
from milk_common.integrity import ts_ms as epoch_ms

from hub.alerts.store import Alert, AlertStore

log = logging.getLogger(__name__)

TANK_KINDS = ("break", "sensor_fault") + COLDCHAIN_WARNINGS


@dataclass(frozen=True)
class AlertSettings:
    language: str = "es"
    renotify_s: float = 3600.0
    silence_s: float = 900.0
    chart_hours: float = 6.0


# history(center, station, tank, start, end) -> [(time, temp_c or None)]
History = Callable[[str, str, str, datetime, datetime], list]


class AlertEngine:
    def __init__(self, store: AlertStore, settings: AlertSettings, channels: list, *,
                 publish_state: Callable[[str, dict], None] | None = None,
                 history: History | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.channels = channels
        self.publish_state = publish_state
        self.history = history
        self.clock = clock or (lambda: datetime.now().astimezone())
        # Per tank, the newest cold-chain message handled (epoch ms), kept in
        # the store so a restart does not let an old re-sent one through.
        self._latest_ms: dict[str, int] = store.tank_latest()
        self._published: dict[str, tuple] = {}           # per center: what the retained state says
        self._lock = threading.RLock()                    # the ingest thread and the ticker

    def _t(self, key: str, **values) -> str:
        return translate("hub", f"alert.{key}", self.settings.language, **values)

    # -- inputs -------------------------------------------------------------
    def observe(self, topic: str, payload: bytes, now: datetime | None = None) -> None:
        """A message the hub stored (the ingest observer)."""
        with self._lock:
            self._observe(topic, payload, now or self.clock())

    def _observe(self, topic: str, payload: bytes, now: datetime) -> None:
        message = decode_station_message(topic, payload)
        center, station = message.center, message.station
        if isinstance(message, StatusV1) and message.status == "offline":
            self._open(center, station, "", "station_silent", now, self._t("silent_will"), now)
            return
        self.store.seen(center, station, now.isoformat())
        self._resolve(center, station, "", ("station_silent",), now)
        if isinstance(message, ColdchainV1):
            self._coldchain(message, now)
        self._publish(center)

    def integrity(self, center: str, station: str, detail: str, now: datetime | None = None,
                  kind: str = "integrity") -> None:
        """A delivery seal or chain check failed at ingest (hub/ingest/integrity.py);
        `kind` "station_clock": a delivery stamped where no clock should (timecheck.py)."""
        with self._lock:
            now = now or self.clock()
            self._open(center, station, "", kind, now, detail, now)

    def finding(self, center: str, station: str, problem: str, seq, detail: str) -> None:
        """An ingest finding (integrity.jsonl's fields): a clock finding alerts as
        `station_clock`, any other as `integrity`."""
        self.integrity(center, station, f"{problem}: seq {seq}: {detail}",
                       kind="station_clock" if problem.startswith("clock_") else "integrity")

    def _coldchain(self, m: ColdchainV1, now: datetime) -> None:
        tank_key = f"{m.center}/{m.station}/{m.tank}"
        ts_ms = epoch_ms(m.ts)
        if tank_key in self._latest_ms and ts_ms < self._latest_ms[tank_key]:
            return      # an old message re-sent after an outage: already handled
        self._latest_ms[tank_key] = ts_ms
        self.store.set_tank_latest(tank_key, ts_ms)
        at = m.ts
        if m.warning is not None:
            self._open(m.center, m.station, m.tank, m.warning, at, m.reason, now)
            return
        if m.state == "break":
            self._resolve(m.center, m.station, m.tank, ("sensor_fault", "predicted_miss", "compressor_suspect"), at)
            self._open(m.center, m.station, m.tank, "break", at, m.reason, now)
        elif m.state == "sensor_fault":
            self._open(m.center, m.station, m.tank, "sensor_fault", at, m.reason, now)
        elif m.state == "cooling":
            self._resolve(m.center, m.station, m.tank, ("sensor_fault", "compressor_suspect"), at)
        else:   # cold, empty: the tank is fine again
            self._resolve(m.center, m.station, m.tank, TANK_KINDS, at)

    def tick(self, now: datetime | None = None) -> None:
        """Silence and re-notification; also republishes a center whose alerts were acked."""
        with self._lock:
            self._tick(now or self.clock())

    def _tick(self, now: datetime) -> None:
        for center, station, last in self.store.stations():
            quiet_s = (now - last).total_seconds()
            if quiet_s >= self.settings.silence_s:
                self._open(center, station, "", "station_silent",
                           last + timedelta(seconds=self.settings.silence_s),
                           self._t("silent_quiet", last=last.astimezone(now.tzinfo).strftime("%H:%M"),
                                   minutes=int(quiet_s // 60)), now)
        for alert in self.store.active():
            if alert.acked_at or not alert.notified_at:
                continue
            if (now - datetime.fromisoformat(alert.notified_at)).total_seconds() >= self.settings.renotify_s:
                self._notify(alert, now, again=True)
        for center in {a.center for a in self.store.all()}:
            self._publish(center)

    def ack(self, alert_id: int, by: str, now: datetime | None = None) -> bool:
        now = now or self.clock()
        done = self.store.ack(alert_id, now.isoformat(), by)
        alert = self.store.get(alert_id)
        if alert:
            self._publish(alert.center)
        return done

    # -- alerts -------------------------------------------------------------
    def _open(self, center: str, station: str, tank: str, kind: str, at: datetime, detail: str,
              now: datetime) -> None:
        key = f"{center}/{station}/{tank}/{kind}"
        if self.store.open_alert(key):
            return      # de-duplicated: the open alert is re-notified on its own schedule
        alert = self.store.insert(key, center, station, tank, kind, at.isoformat(), detail)
        log.warning("alert %d opened: %s %s", alert.id, key, detail)
        self._notify(alert, now, again=False)
        self._publish(center)

    def _resolve(self, center: str, station: str, tank: str, kinds, at: datetime) -> None:
        for kind in kinds:
            alert = self.store.open_alert(f"{center}/{station}/{tank}/{kind}")
            if alert:
                self.store.resolve(alert.id, at.isoformat())
                log.info("alert %d resolved", alert.id)

    def _notify(self, alert: Alert, now: datetime, again: bool) -> None:
        title = self._t(alert.kind)
        where = (self._t("where_tank", tank=alert.tank, station=alert.station, center=alert.center)
                 if alert.tank else self._t("where_station", station=alert.station, center=alert.center))
        count = alert.notify_count + 1
        subject = (self._t("again", count=count) if again else "") + f"{title} — {where}"
        body = self._t("body", title=title, where=where, opened=alert.opened_at, detail=alert.detail,
                       id=alert.id, renotify=int(self.settings.renotify_s // 60))
        chart = self._chart(alert, now) if alert.tank else None
        info = {**alert.to_json(), "renotification": again, "notify_count": count}
        for channel in self.channels:
            try:
                channel.send(info, subject, body, chart)
            except Exception as exc:    # one channel down must not silence the others
                log.error("alert %d: %s channel failed: %s", alert.id, getattr(channel, "name", channel), exc)
        self.store.notified(alert.id, now.isoformat())

    def _chart(self, alert: Alert, now: datetime) -> bytes | None:
        if self.history is None:
            return None
        try:
            from hub.alerts.chart import tank_chart_png
            end = max(now, datetime.fromisoformat(alert.opened_at))
            start = end - timedelta(hours=self.settings.chart_hours)
            samples = self.history(alert.center, alert.station, alert.tank, start, end)
            if not samples:
                return None
            title = self._t("chart", tank=alert.tank, hours=f"{self.settings.chart_hours:g}")
            return tank_chart_png(samples, title, mark=datetime.fromisoformat(alert.opened_at))
        except Exception:
            log.exception("alert %d: no chart", alert.id)
            return None

    def _publish(self, center: str) -> None:
        if self.publish_state is None:
            return
        active = self.store.active(center)
        signature = tuple((a.id, bool(a.acked_at)) for a in active)
        if self._published.get(center) == signature:
            return
        self._published[center] = signature
        self.publish_state(center, alerts_payload(
            center, self.clock().isoformat(timespec="seconds"),
            [{"id": a.id, "kind": a.kind, "station": a.station, "tank": a.tank or None,
              "since": a.opened_at, "detail": a.detail, "acked": a.acked_at is not None}
             for a in active]))
