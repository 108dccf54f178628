"""Wires the alert engine into `milk-hub ingest` when `[alerts] enabled`."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


def influx_history(influx, chunk_size: int = 10000):
    """history() for the engine: a tank's samples from InfluxDB."""
    from hub.store.status import tank_history

    def history(center, station, tank, start, end):
        return tank_history(influx, center, station, tank, start, end, chunk_size)
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
    influx = InfluxV1.from_config(ic)
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
