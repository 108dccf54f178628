"""Hub alerts: the engine over the recorded traces (time passed in), the
e-mail and webhook channels against real servers on loopback, and the
technician's end to end: a tank breaks at a station, the e-mail with the
chart and the webhook arrive, re-notified until acknowledged."""

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from collector_station.coldchain import ColdchainSettings, read_trace, replay
from hub.notify.channel import AppriseChannel
from hub.notify.urls import smtp_url, webhook_to_json_url
from hub.alerts.engine import AlertEngine, AlertSettings
from hub.alerts.store import AlertStore

from .conftest import wait_until
from milk_common.mqtt import stop_loop

TRACES = Path(__file__).parent / "data" / "traces"
REPO = Path(__file__).parent.parent


# -- real local servers -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps every message received."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def webhook_server():
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.calls = calls
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()


# -- the engine over the traces ----------------------------------------------------
class Recorder:
    name = "recorder"

    def __init__(self):
        self.sent = []

    def send(self, alert, subject, body, chart):
        self.sent.append((alert, subject, body))


def run_trace(tmp_path, trace, *, renotify_min=600.0, silence_min=15.0, language="es"):
    """The station's machine over the trace, its messages through the hub engine,
    with the hub's clock at each row's time (plus a tick every row)."""
    store = AlertStore(tmp_path / "alerts.sqlite3")
    rec = Recorder()
    states = []
    engine = AlertEngine(store, AlertSettings(language=language, renotify_s=renotify_min * 60,
                                              silence_s=silence_min * 60),
                         [rec], publish_state=lambda c, p: states.append(p))
    rows = read_trace(TRACES / trace)
    prev = None
    for row, changes, warnings in replay(rows, ColdchainSettings()):
        now = row.time
        if prev is not None:    # the hub's ticker runs every minute, also while nothing arrives
            t = prev + timedelta(minutes=1)
            while t < now:
                engine.tick(t)
                t += timedelta(minutes=1)
        prev = now
        env = {"center": "c1", "station": "s1", "tank": row.tank}
        engine.observe("milk/v1/c1/s1/tank/" + row.tank, json.dumps(
            {"schema": "tank/1", **env, "samples": [{"ts": row.time_text, "temp_c": row.temp_c}]}).encode(), now)
        for c in changes:
            engine.observe("milk/v1/c1/s1/coldchain", json.dumps(
                {"schema": "coldchain/1", **env, "ts": row.time_text, "state": c.state, "reason": c.reason}).encode(), now)
        for w in warnings:
            engine.observe("milk/v1/c1/s1/coldchain", json.dumps(
                {"schema": "coldchain/1", **env, "ts": row.time_text, "state": w.state, "reason": w.reason,
                 "warning": w.kind}).encode(), now)
        engine.tick(now)
    opened = [(a.kind, a.opened_at[11:16], a.resolved_at and a.resolved_at[11:16]) for a in store.all()]
    return opened, rec, states, store


def test_normal_day_raises_no_alert(tmp_path):
    opened, rec, _, _ = run_trace(tmp_path, "normal_day.csv")
    assert opened == [] and rec.sent == []


def test_compressor_failure_alerts(tmp_path):
    opened, rec, _, _ = run_trace(tmp_path, "compressor_failure.csv")
    assert opened == [("compressor_suspect", "11:29", "13:59"), ("break", "13:59", None)]
    assert "compresor" in rec.sent[0][1]


def test_slow_cooling_alerts(tmp_path):
    opened, _, _, _ = run_trace(tmp_path, "slow_cooling.csv")
    assert opened == [("predicted_miss", "06:38", "08:30"), ("break", "08:30", "08:54")]


def test_sensor_dropout_alerts(tmp_path):
    opened, _, _, _ = run_trace(tmp_path, "sensor_dropout.csv")
    assert opened == [("sensor_fault", "06:51", "06:55"), ("sensor_fault", "10:01", "10:10")]


def test_station_offline_alert(tmp_path):
    opened, rec, states, _ = run_trace(tmp_path, "station_offline.csv", language="en")
    # Last row 09:59, silence 15 min: silent at 10:14; back with the first row at 12:00.
    assert opened == [("station_silent", "10:14", "12:00")]
    assert rec.sent[0][1].startswith("Station silent")
    assert states[-1]["alerts"] == [] and any(s["alerts"] for s in states)


def test_last_will_opens_silent_alert_and_data_resolves_it(tmp_path):
    store = AlertStore(tmp_path / "a.sqlite3")
    rec = Recorder()
    engine = AlertEngine(store, AlertSettings(), [rec])
    now = datetime(2026, 11, 2, 6, 0, tzinfo=timezone(timedelta(hours=-5)))
    status = {"schema": "status/1", "center": "c1", "station": "s1", "status": "offline", "ts": now.isoformat()}
    engine.observe("milk/v1/c1/s1/status", json.dumps(status).encode(), now)
    engine.observe("milk/v1/c1/s1/status", json.dumps(status).encode(), now)      # de-duplicated
    assert [a.kind for a in store.active()] == ["station_silent"] and len(rec.sent) == 1
    engine.observe("milk/v1/c1/s1/status", json.dumps({**status, "status": "online"}).encode(), now)
    assert store.active() == []


def test_renotified_until_acknowledged(tmp_path):
    opened, rec, _, store = run_trace(tmp_path, "compressor_failure.csv", renotify_min=30)
    # compressor_suspect 11:29 -> 11:59, 12:29, ... until resolved at 13:59 by the break.
    subjects = [s for _, s, _ in rec.sent]
    assert sum("compresor" in s for s in subjects) == 5
    assert sum(s.startswith("RECORDATORIO") and "compresor" in s for s in subjects) == 4
    brk = store.active()[0]
    assert brk.kind == "break" and brk.notify_count == 2      # 13:59, and again at 14:29
    engine = AlertEngine(store, AlertSettings(renotify_s=1800), [rec])
    t = datetime.fromisoformat(brk.notified_at)
    engine.tick(t + timedelta(minutes=29))
    assert store.get(brk.id).notify_count == 2
    engine.tick(t + timedelta(minutes=31))
    assert store.get(brk.id).notify_count == 3
    assert engine.ack(brk.id, "ana", t + timedelta(minutes=32))
    engine.tick(t + timedelta(hours=5))
    assert store.get(brk.id).notify_count == 3


# -- channels against real servers -----------------------------------------------------
def test_email_with_chart_over_real_smtp(smtp_server):
    from hub.alerts.chart import tank_chart_png
    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone(timedelta(hours=-5)))
    png = tank_chart_png([(t0 + timedelta(minutes=m), 4 + m / 30 if m != 5 else None) for m in range(60)],
                         "Tanque 1")
    assert png.startswith(b"\x89PNG")
    # The old [alerts] smtp_* settings, as the Apprise URL the hub makes of them.
    AppriseChannel(smtp_url("127.0.0.1", smtp_server.port, "hub@c1.pe", ["tec@c1.pe"])).send(
        {"tank": "t1"}, "Ruptura de la cadena de frío — tanque t1", "cuerpo", png)
    msg = smtp_server.messages[0]
    assert msg["Subject"] == "Ruptura de la cadena de frío — tanque t1" and msg["To"] == "tec@c1.pe"
    attachments = list(msg.iter_attachments())
    assert attachments[0].get_content_type() == "image/png" and attachments[0].get_content() == png
    assert attachments[0].get_filename() == "tanque-t1.png"


def test_webhook_over_real_http(webhook_server):
    # The old [alerts] webhook_url, as Apprise's json:// URL: Apprise's JSON body.
    AppriseChannel(webhook_to_json_url(webhook_server.url)).send({"id": 7, "kind": "break"}, "t", "b", None)
    assert [(c["title"], c["message"], c["type"]) for c in webhook_server.calls] == [("t", "b", "info")]


def test_failed_channel_does_not_stop_the_others(tmp_path, webhook_server):
    store = AlertStore(tmp_path / "a.sqlite3")
    dead = AppriseChannel(smtp_url("127.0.0.1", free_port(), "hub@c1.pe", ["tec@c1.pe"]))
    engine = AlertEngine(store, AlertSettings(), [dead, AppriseChannel(webhook_to_json_url(webhook_server.url))])
    now = datetime(2026, 11, 2, 6, 0, tzinfo=timezone(timedelta(hours=-5)))
    engine.observe("milk/v1/c1/s1/coldchain", json.dumps({
        "schema": "coldchain/1", "center": "c1", "station": "s1", "tank": "t1", "ts": now.isoformat(),
        "state": "break", "reason": "x"}).encode(), now)
    assert [c["title"].startswith("Ruptura de la cadena de frío") for c in webhook_server.calls] == [True]


# -- end to end ------------------------------------------------------------------------
@pytest.mark.servers
def test_tank_break_reaches_technician_until_acknowledged(servers, tmp_path, unique, smtp_server,
                                                         webhook_server):
    from collector_station.config import load_station_config
    from collector_station.instruments.simulate import SimulatedBench
    from collector_station.station import Station

    from .conftest import HubProcess, write_hub_config

    hub_toml = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                                influx_url=servers.influxdb.url, database=unique,
                                client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data")
    hub_toml.write_text(hub_toml.read_text() + f'''[alerts]
enabled = true
renotify_min = 0.05
silence_min = 10
tick_s = 0.2
smtp_host = "127.0.0.1"
smtp_port = {smtp_server.port}
smtp_to = ["tecnico@centro.pe"]
webhook_url = "{webhook_server.url}"
''')
    hub = HubProcess(hub_toml, tmp_path / "hub.log").start()
    retained = []
    watcher = servers.mqtt_client()          # TLS, the hub's read-all login
    watcher.on_message = lambda c, u, m: retained.append(json.loads(m.payload))
    watcher.on_connect = lambda c, *a: c.subscribe(f"milk/v1/alerts/{unique}", qos=1)
    watcher.connect("127.0.0.1", servers.mqtt_port)
    watcher.loop_start()

    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=3, frame_interval_s=0.01, settle_s=0.05).start()
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center=unique, station="s1", mqtt_port=servers.mqtt_port,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05,
                                              access=servers.station_mqtt(unique, "s1"))
                    + "\n[coldchain]\ncooling_window_min = 0.1\nfirst_check_min = 0.05\n")
    config = load_station_config(path)
    config = config.model_copy(update={
        "thermometers": config.thermometers.model_copy(update={"interval_s": 0.2, "batch_size": 2})})
    station = Station(config, display=lambda line: None)
    alarms = []
    station.coldchain.on_break = lambda tank, on: alarms.append((tank, on))
    station.start()
    assert station.wait_ready()
    try:
        time.sleep(1.5)        # the hub's session exists before the break
        tank = bench.tanks["tank1"]
        tank.add_milk(500, 18.0)          # warm milk, and the compressor does not start
        station.coldchain.milk_added("tank1", station.clock())
        wait_until(lambda: station.coldchain.state("tank1") == "break", 20, message="station break")
        # The alarm callback runs just after the state changes (outside the monitor's lock).
        wait_until(lambda: alarms, 5, message="alarm raised")
        assert alarms == [("tank1", True)]
        # The broker is shared with other tests: count only this center's alerts
        # (a station left offline by an earlier test opens its own).
        mine = lambda: [m for m in smtp_server.messages if unique in m["Subject"]]  # noqa: E731
        my_calls = lambda: [c for c in webhook_server.calls if unique in c.get("title", "")]  # noqa: E731
        wait_until(mine, 30, message="technician's e-mail")
        first = mine()[0]
        assert "Ruptura de la cadena de frío" in first["Subject"] and "tank1" in first["Subject"]
        body = first.get_body(("plain",)).get_content()
        match = [line for line in body.splitlines() if "milk-hub alerts ack" in line]
        alert_id = int(match[0].split()[-1])
        charts = [p for p in first.iter_attachments() if p.get_content_type() == "image/png"]
        assert charts and charts[0].get_content().startswith(b"\x89PNG")
        wait_until(lambda: any("Ruptura de la cadena de frío" in c["title"] for c in my_calls()), 10,
                   message="webhook")
        wait_until(lambda: any(a["kind"] == "break" for r in retained for a in r["alerts"]), 10,
                   message="retained alert state")
        wait_until(lambda: len(mine()) >= 2, 20, message="re-notification")
        assert mine()[1]["Subject"].startswith("RECORDATORIO")
        ack = subprocess.run([sys.executable, "-m", "hub", "alerts", "ack", str(alert_id), "--by", "ana",
                              "--config", str(hub_toml)], capture_output=True, text=True, cwd=REPO)
        assert ack.returncode == 0, ack.stderr
        time.sleep(0.5)
        count = len(mine())
        calls = len(my_calls())
        time.sleep(3 * 0.05 * 60 + 1)     # three re-notification periods
        assert len(mine()) == count and len(my_calls()) == calls
        listed = subprocess.run([sys.executable, "-m", "hub", "alerts", "list", "--json", "--config",
                                 str(hub_toml)], capture_output=True, text=True, cwd=REPO)
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert any(r["id"] == alert_id and r["acked_by"] == "ana" for r in rows)
        wait_until(lambda: any(a.get("acked") for a in retained[-1]["alerts"]), 10, message="acked state")
    finally:
        station.stop()
        bench.stop()
        hub.stop()
        stop_loop(watcher)
        watcher.disconnect()


def test_integrity_findings_alert_the_technicians(tmp_path):
    """A forged or altered delivery found at ingest opens one alert per station
    (de-duplicated), through the same channels as the cold chain."""
    from hub.config import HubConfig
    from hub.ingest.service import Ingest
    from hub.ingest.integrity import Finding
    store = AlertStore(tmp_path / "a.sqlite3")
    rec = Recorder()
    engine = AlertEngine(store, AlertSettings(), [rec])
    ingest = Ingest(HubConfig(data_dir=str(tmp_path / "hub")))
    ingest.integrity_observers.append(
        lambda f: engine.integrity(f.center, f.station, f"{f.problem}: seq {f.seq}: {f.detail}"))
    ingest._integrity_findings([Finding("c1", "s1", 4, "x", "signature", "la firma no corresponde"),
                                Finding("c1", "s1", 5, "y", "chain", "no sigue al 4")])
    alerts = store.active()
    assert [(a.kind, a.station) for a in alerts] == [("integrity", "s1")]
    assert "signature: seq 4" in alerts[0].detail
    assert len(rec.sent) == 1 and "Registro de entregas alterado" in rec.sent[0][1]
    assert ingest.stats.integrity_alerts == 2
    assert len((tmp_path / "hub" / "integrity.jsonl").read_text().splitlines()) == 2


def test_a_restarted_engine_keeps_its_state(tmp_path):
    """After a hub restart an old re-sent break does not reopen the resolved
    alert, and an alert that was open stays open (and is not sent again)."""
    path = tmp_path / "alerts.sqlite3"
    env = {"center": "c1", "station": "s1"}

    def message(tank, ts, state, reason="r"):
        return json.dumps({"schema": "coldchain/1", **env, "tank": tank, "ts": ts, "state": state,
                           "reason": reason}).encode()

    now = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    store = AlertStore(path)
    rec = Recorder()
    engine = AlertEngine(store, AlertSettings(renotify_s=36000), [rec])
    engine.observe("milk/v1/c1/s1/coldchain", message("t1", "2026-11-01T08:00:00+00:00", "break"), now)
    engine.observe("milk/v1/c1/s1/coldchain", message("t1", "2026-11-01T08:30:00+00:00", "cold"), now)
    engine.observe("milk/v1/c1/s1/coldchain", message("t2", "2026-11-01T08:40:00+00:00", "break"), now)
    is_open = [(a.tank, a.kind, a.resolved_at is None) for a in store.all()]
    assert is_open == [("t1", "break", False), ("t2", "break", True)]
    sent_before = len(rec.sent)
    store.close()

    store = AlertStore(path)                  # the hub restarts
    rec2 = Recorder()
    engine = AlertEngine(store, AlertSettings(renotify_s=36000), [rec2])
    # The station re-sends the old break (at least once): nothing reopens.
    engine.observe("milk/v1/c1/s1/coldchain", message("t1", "2026-11-01T08:00:00+00:00", "break"), now)
    engine.observe("milk/v1/c1/s1/coldchain", message("t2", "2026-11-01T08:40:00+00:00", "break"), now)
    engine.tick(now + timedelta(minutes=5))
    assert [(a.tank, a.kind) for a in store.active()] == [("t2", "break")]
    assert len(store.all()) == 2 and rec2.sent == [] and sent_before == 2
    # A newer break of t1 is a new alert, as it should be.
    engine.observe("milk/v1/c1/s1/coldchain", message("t1", "2026-11-01T10:00:00+00:00", "break"), now)
    assert sorted(a.tank for a in store.active()) == ["t1", "t2"]


def test_last_heard_is_written_at_most_every_few_seconds_and_kept_on_close(tmp_path):
    """A burst of messages costs one durable write per station, yet the engine
    sees the newest time at once and a clean close keeps it."""
    from datetime import datetime, timedelta, timezone

    from hub.alerts.store import SEEN_WRITE_S, AlertStore

    path = tmp_path / "alerts.sqlite3"
    store = AlertStore(path)
    t0 = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)
    writes = []
    store._db.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("INSERT INTO stations") else None)
    for i in range(50):
        store.seen("c1", "s1", (t0 + timedelta(seconds=i * 0.05)).isoformat())
    assert len(writes) == 1
    assert store.stations() == [("c1", "s1", t0 + timedelta(seconds=49 * 0.05))]
    store.seen("c1", "s1", (t0 + timedelta(seconds=SEEN_WRITE_S + 1)).isoformat())
    assert len(writes) == 2
    store.seen("c1", "s1", (t0 + timedelta(seconds=SEEN_WRITE_S + 2)).isoformat())
    assert len(writes) == 2
    store.close()
    again = AlertStore(path)
    assert again.stations() == [("c1", "s1", t0 + timedelta(seconds=SEEN_WRITE_S + 2))]
    again.close()
