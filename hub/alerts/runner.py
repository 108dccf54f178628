"""Wires the alert engine into `milk-hub ingest` when `[alerts] enabled`."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)


def influx_history(influx, chunk_size: int = 10000):
    """history() for the engine: a tank's samples from InfluxDB."""
    def rfc(t: datetime) -> str:
        return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def quote(v: str) -> str:
        return v.replace("\\", "\\\\").replace("'", "\\'")

    def history(center, station, tank, start, end):
        q = (f"SELECT temp_c, valid FROM tank_temperature WHERE center = '{quote(center)}' AND "
             f"station = '{quote(station)}' AND tank = '{quote(tank)}' AND time >= '{rfc(start)}' "
             f"AND time <= '{rfc(end)}'")
        out = []
        for row in influx.query(q, chunk_size=chunk_size):
            t = datetime.fromtimestamp(row["time"] / 1e9, start.tzinfo)
            out.append((t, row.get("temp_c") if row.get("valid", True) else None))
        return out
    return history


def build_engine(config, *, mqtt_state=None):
    from hub.store.influx import InfluxV1
    from hub.alerts.engine import AlertEngine, AlertSettings
    from hub.alerts.store import AlertStore
    from hub.errors import UserError
    from hub.notify.channel import AppriseChannel
    from hub.notify.urls import AlertSettingError, alert_urls
    ac = config.alerts
    try:   # [alerts] notify, smtp_* and webhook_url, all as Apprise URLs: one channel each
        channels = [AppriseChannel(url) for url in alert_urls(ac)]
    except AlertSettingError as exc:
        raise UserError(str(exc)) from None
    ic = config.influx
    influx = InfluxV1(ic.url, ic.database, username=ic.username, password=ic.password,
                      timeout_s=ic.timeout_s)
    zone = config.zone
    return AlertEngine(
        AlertStore(Path(config.data_dir) / "alerts.sqlite3"),
        AlertSettings(language=ac.language, renotify_s=ac.renotify_min * 60,
                      silence_s=ac.silence_min * 60, chart_hours=ac.chart_hours),
        channels, publish_state=mqtt_state.publish if mqtt_state else None,
        history=influx_history(influx, ic.query_chunk_size),
        clock=lambda: datetime.now(zone))


def attach_alerts(config, ingest):
    """Observe the ingest's stored messages and tick; returns a stop function."""
    if not config.alerts.enabled:
        return lambda: None
    from hub.alerts.channels import MqttAlertState
    mc = config.mqtt
    if mc.shared_group:      # one hub of the group runs them (hub/alerts/group.py)
        from hub.alerts.group import attach_group_alerts

        def start_engine():
            state = MqttAlertState(mc.host, mc.port, f"{mc.client_id}-alerts"[:64], access=mc)
            return build_engine(config, mqtt_state=state), state.close
        return attach_group_alerts(config, ingest, start_engine)
    state = MqttAlertState(mc.host, mc.port, f"{mc.client_id}-alerts"[:64], access=mc)
    engine = build_engine(config, mqtt_state=state)
    ingest.observers.append(lambda topic, payload: engine.observe(topic, payload))
    ingest.integrity_observers.append(
        lambda f: engine.finding(f.center, f.station, f.problem, f.seq, f.detail))
    stop = threading.Event()

    def loop():
        while not stop.wait(config.alerts.tick_s):
            try:
                engine.tick()
            except Exception:
                log.exception("alert tick failed")

    thread = threading.Thread(target=loop, name="alerts", daemon=True)
    thread.start()

    def stop_alerts():
        stop.set()
        thread.join(5)
        state.close()
    return stop_alerts
