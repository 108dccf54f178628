"""Producers told through Apprise: messages received by a local HTTP server
through Apprise's `json://` URL, each once; a failed send (server down, or
answering 500) retried on the next run; per-delivery messages from the hub's
ingest, never twice for a re-sent delivery; the old alert settings as
Apprise URLs."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devtools.servers import free_port

from .conftest import HubProcess, wait_until, write_hub_config
from milk_common.mqtt import stop_loop

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "payments"


class Receiver:
    """An HTTP server in a thread that keeps every JSON body posted to it; the
    answer per path can be set (200 or 500), and it can be stopped and started
    again on the same port (a gateway that was down)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.calls: list[tuple[str, dict]] = []
        self.status: dict[str, int] = {}
        self.server = None

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = receiver.status.get(self.path, 200)
                if code == 200:
                    receiver.calls.append((self.path, json.loads(body)))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[dict]:
        return [body for p, body in self.calls if p == path]


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


# -- the fortnight: milk-hub payments --notify -----------------------------------------
def payments(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub", "payments", "--period", "2026-11-1",
         "--deliveries", str(DATA / "deliveries.csv"), "--pricing", str(DATA / "pricing.toml"),
         "--out", str(tmp_path / "out"), "--no-pdf", "--quiet", "--lang", "es", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=120)


def journal(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in
            (tmp_path / "out" / "notifications.jsonl").read_text(encoding="utf-8").splitlines()]


def test_fortnight_messages_sent_once_and_a_failed_one_retried(tmp_path, receiver):
    registry = tmp_path / "producers.csv"
    registry.write_text("code,name,phone,notify\n"
                        f"p001,Rosa Quispe,+51 987 654 321,{receiver.url('/p001')}\n"
                        "p002,Luis Mamani,,\n"
                        f"p003,Ana Condori,,{receiver.url('/p003')}\n", encoding="utf-8")
    receiver.status["/p003"] = 500                      # the gateway fails for this one
    ledger = tmp_path / "ledger.sqlite3"
    first = payments(tmp_path, "--producers", str(registry), "--notify", "--ledger", str(ledger))
    assert first.returncode == 0, first.stderr
    rows = {r["producer"]: r for r in csv.DictReader(open(tmp_path / "out" / "statements.csv"))}
    with_deliveries = {code for code, r in rows.items() if code != "TOTAL" and int(r["deliveries"]) > 0}
    assert {"p001", "p002", "p003"} <= with_deliveries
    assert len(receiver.to("/p001")) == 1 and receiver.to("/p003") == []
    message = receiver.to("/p001")[0]
    p001 = rows["p001"]
    assert message["title"] == "Leche: quincena 2026-11-1"
    for words in (f"{p001['liters']} L", f"ST promedio {p001['avg_solids_pct']} %",
                  f"Descuentos {p001['deductions']}", f"neto a cobrar {p001['net']} PEN", "Rosa Quispe"):
        assert words in message["message"], (words, message["message"])
    assert "1 enviados" in first.stderr and "1 fallidos" in first.stderr and "p003" in first.stderr
    states = {(e["producer"], e["status"]) for e in journal(tmp_path)}
    assert states == {("p001", "sent"), ("p003", "failed")}
    db = sqlite3.connect(ledger)
    assert dict(db.execute("SELECT producer, status FROM notification")) == {"p001": "sent", "p003": "failed"}

    receiver.status["/p003"] = 200                      # back: the next run retries it, once
    second = payments(tmp_path, "--producers", str(registry), "--notify", "--ledger", str(ledger), "--close")
    assert second.returncode == 0, second.stderr
    assert len(receiver.to("/p001")) == 1 and len(receiver.to("/p003")) == 1
    assert "Ana Condori" in receiver.to("/p003")[0]["message"]
    assert dict(db.execute("SELECT producer, status FROM notification")) == {"p001": "sent", "p003": "sent"}
    # The period is closed now: its frozen statements, and still nothing sent twice.
    third = payments(tmp_path, "--producers", str(registry), "--notify", "--ledger", str(ledger))
    assert third.returncode == 0 and len(receiver.calls) == 2
    assert "se cerró" in third.stderr and "2 ya enviados antes" in third.stderr
    # The journal alone (no ledger) is enough to never send twice.
    fourth = payments(tmp_path, "--producers", str(registry), "--notify")
    assert fourth.returncode == 0 and len(receiver.calls) == 2


def test_fortnight_message_retried_after_the_gateway_was_down(tmp_path):
    from hub.notify.fortnight import notify_fortnight
    from hub.payments.periods import Period
    from milk_common.contract.registry import Producer

    out = tmp_path / "out"
    out.mkdir()
    (out / "statements.csv").write_text(
        "period,producer,deliveries,rejected,liters,avg_solids_pct,gross,fees,deductions,carried_over,net\n"
        "2026-11-2,P001,4,0,100.00,11.80,106.00,2.00,30.00,5.00,74.00\n"
        "2026-11-2,P002,0,0,0.00,,0.00,0.00,0.00,0.00,0.00\n"
        "2026-11-2,TOTAL,4,0,100.00,11.80,106.00,2.00,30.00,5.00,74.00\n", encoding="utf-8")
    down = Receiver()                                    # nothing listens on its port yet
    contacts = {"P001": Producer("P001", "Rosa", notify=down.url("/hook")),
                "P002": Producer("P002", "Luis", notify=down.url("/hook"))}
    period = Period.parse("2026-11-2")
    first = notify_fortnight(out, period, contacts, currency="BOB", pay_date=None, lang="es")
    assert (first.sent, first.failed) == (0, 1) and "Connection" in first.failures[0][2]
    down.start()
    try:
        second = notify_fortnight(out, period, contacts, currency="BOB",
                                  pay_date=datetime(2026, 12, 5).date(), lang="es")
        assert (second.sent, second.failed) == (1, 0)
        (body,) = down.to("/hook")
        assert body["message"] == ("Rosa: del 16/11/2026 al 30/11/2026 entregó 100.00 L, ST promedio 11.80 %. "
                                   "Descuentos 30.00; neto a cobrar 74.00 BOB. Quedan 5.00 BOB por "
                                   "descontar en la próxima quincena. Pago el 05/12/2026.")
        third = notify_fortnight(out, period, contacts, currency="BOB", pay_date=None, lang="es")
        assert (third.sent, third.failed, third.already) == (0, 0, 1) and len(down.calls) == 1
    finally:
        down.stop()


# -- per delivery: the hub's ingest ----------------------------------------------------
def test_delivery_queue_sends_once_and_retries_a_failure(tmp_path, receiver):
    from hub.notify.deliveries import DeliveryNotifier

    clock = [1000.0]
    notifier = DeliveryNotifier(tmp_path / "q.sqlite3", lambda code: ("Rosa", receiver.url("/d")),
                                tz=ZoneInfo("America/Lima"), retry_min_s=30, clock=lambda: clock[0])
    record = {"schema": "delivery/1", "id": "x1", "producer": "P001", "ts": "2026-11-03T06:05:00-05:00",
              "liters": 25.3, "solids_pct": 11.9, "accepted": True, "receipt_code": "AB12-CD34"}
    receiver.status["/d"] = 500
    topic = "milk/v1/c1/s1/delivery"
    notifier.observe(topic, json.dumps(record).encode())
    notifier.observe(topic, json.dumps(record).encode())       # the station sent it again
    assert notifier.send_due() == 0 and notifier.counts() == {"pending": 1}
    receiver.status["/d"] = 200
    assert notifier.send_due() == 0                             # not due yet: it waits 30 s
    clock[0] += 31
    assert notifier.send_due() == 1 and notifier.send_due() == 0
    notifier.observe(topic, json.dumps(record).encode())
    clock[0] += 3600
    assert notifier.send_due() == 0 and len(receiver.to("/d")) == 1
    assert receiver.to("/d")[0]["message"] == ("Rosa: entrega del 03/11/2026 06:05: 25.30 L, ST 11.90 %. "
                                               "Código de verificación AB12-CD34.")
    notifier.observe(topic, b"not json")                        # never raises into the ingest
    notifier.stop()


@pytest.mark.servers
def test_hub_ingest_messages_each_stored_delivery_once(servers, tmp_path, unique, receiver):
    from milk_common.integrity import GENESIS, seal

    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique, client_id=f"hub-{unique}",
                              data_dir=tmp_path / "hub-data",
                              extra='[notify]\ndeliveries = true\nretry_min_s = 0.5\nretry_max_s = 1\n')
    registry = tmp_path / "registry.csv"
    registry.write_text(f"code,name,notify\nP001,Rosa Quispe,{receiver.url('/rosa')}\nP002,Luis,\n",
                        encoding="utf-8")
    imported = subprocess.run([sys.executable, "-m", "hub", "producers", "import", str(registry),
                               "--config", str(config), "--lang", "es"],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
    assert imported.returncode == 0 and "FUSIONADO: 2 nuevos" in imported.stdout, imported
    receiver.status["/rosa"] = 500          # the first attempt fails: queued, retried, sent once
    hub = HubProcess(config, tmp_path / "hub.log").start()
    try:
        station = servers.provision_station(unique, "s1")
        client = servers.mqtt_client(station)
        client.connect("127.0.0.1", servers.mqtt_port)
        client.loop_start()
        wait_until(lambda: (tmp_path / "hub-data" / "ingest-status.json").exists() and json.loads(
            (tmp_path / "hub-data" / "ingest-status.json").read_text())["connected"], 30, message="hub up")
        ts = datetime.now(timezone(timedelta(hours=-5))).replace(microsecond=0)
        base = {"schema": "delivery/1", "center": unique, "station": "s1", "weight_kg": 20.6,
                "liters": 20.0, "solids_pct": 12.1, "fat_pct": 3.6, "milk_temp_c": 9.0, "accepted": True,
                "reject_reason": None, "kind": "delivery", "refers_to": None, "flags": [], "operator": ""}
        one = seal({**base, "id": "n1", "seq": 1, "producer": "P001", "ts": ts.isoformat()}, GENESIS, station.key)
        two = seal({**base, "id": "n2", "seq": 2, "producer": "P002",
                    "ts": (ts + timedelta(minutes=1)).isoformat()}, one["hash"], station.key)
        topic = f"milk/v1/{unique}/s1/delivery"
        for payload in (one, two, one):           # P001's delivery arrives twice
            client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
        queue = tmp_path / "hub-data" / "notify-deliveries.sqlite3"
        wait_until(lambda: queue.exists() and sqlite3.connect(queue).execute(
            "SELECT attempts FROM delivery_message WHERE id = 'n1'").fetchone() not in (None, (0,)),
            30, message="first attempt failed")
        receiver.status["/rosa"] = 200
        wait_until(lambda: receiver.to("/rosa"), 30, message="message retried and received")
        client.publish(topic, json.dumps(one), qos=1).wait_for_publish(5)   # and once more
        import time
        time.sleep(2.5)
        assert len(receiver.to("/rosa")) == 1
        assert one["receipt_code"] in receiver.to("/rosa")[0]["message"]
        assert "20.00 L, ST 12.10 %" in receiver.to("/rosa")[0]["message"]
        assert len(receiver.calls) == 1           # P002 has no URL
        assert hub.proc.poll() is None
        stop_loop(client)
        client.disconnect()
    finally:
        hub.stop()


# -- the old alert settings as Apprise URLs -------------------------------------------
def test_old_alert_settings_become_apprise_urls():
    from hub.config import HubAlerts
    from hub.notify.urls import AlertSettingError, alert_urls

    alerts = HubAlerts(smtp_host="smtp.example.org", smtp_port=587, smtp_starttls=True,
                       smtp_from="acopio@example.org", smtp_to=["tecnico@example.org"],
                       smtp_username="acopio", smtp_password="s3cr:t", webhook_url="https://gw.example.org/alert",
                       notify=["tgram://123456789:abcdefg_hijklmnop/-100200300"])
    urls = alert_urls(alerts)
    assert urls[0].startswith("tgram://")
    assert urls[1].startswith("mailtos://acopio:s3cr%3At@smtp.example.org:587?") and "mode=starttls" in urls[1]
    assert "to=tecnico@example.org" in urls[1] and "from=acopio@example.org" in urls[1]
    assert urls[2] == "jsons://gw.example.org/alert?cto=10&rto=10"    # [alerts] timeout_s, as before
    with pytest.raises(AlertSettingError, match=r"\[alerts\] webhook_url.*notify"):
        alert_urls(HubAlerts(webhook_url="ftp://x/y"))
    with pytest.raises(AlertSettingError, match="smtp_to is empty"):
        alert_urls(HubAlerts(smtp_host="smtp.example.org"))
    with pytest.raises(AlertSettingError, match="not a usable Apprise URL"):
        alert_urls(HubAlerts(notify=["whatever://x"]))
