"""The hub dashboard (`milk-hub web`) in a real Chromium, over a real InfluxDB.

Data is written with the hub's own code (devtools/dashboard_data.py): sealed
station payloads -> contract decoder -> `hub.store.points` -> InfluxDB; the
alert comes from the hub's alert rules seeing a cold-chain break.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from devtools import dashboard_data as data
from devtools.browser import chromium
from devtools.fixtures import wait_until, write_hub_config
from devtools.servers import REPO, free_port
from hub.alerts.store import AlertStore
from hub.store.influx import InfluxV1
from hub.web.summary import format_2dp

pytestmark = pytest.mark.servers

LIMA = ZoneInfo("America/Lima")
PERIOD = "2026-11-1"
PASSWORD = "leche-fresca-2026"
RED = "rgb(198, 40, 40)"          # --red in hub/web/static/dashboard.css


@pytest.fixture(scope="module")
def site(servers, tmp_path_factory):
    """Two stations' fortnight, two tanks (one broken, with its alert), a statement
    computed by `milk-hub payments`, and `milk-hub web` serving it all."""
    tmp = tmp_path_factory.mktemp("dashboard")
    database = "d" + uuid.uuid4().hex[:10]
    center = "c" + uuid.uuid4().hex[:8]
    influx = InfluxV1(servers.influxdb.url, database)
    influx.create_database()
    hub_data = tmp / "hub-data"
    written = data.seed_fortnight(influx, center, hub_data, LIMA)

    statements = tmp / "statements"
    port = free_port()
    config = write_hub_config(tmp / "hub.toml", mqtt_port=servers.mqtt_port, influx_url=servers.influxdb.url,
                              database=database, client_id=f"hub-{database}", data_dir=hub_data,
                              extra=f'[web]\nport = {port}\nstatements_dir = "{statements}"\n'
                                    'login_max_failures = 3\n')
    payments = subprocess.run(
        [sys.executable, "-m", "hub", "payments", "--period", PERIOD, "--pricing",
         str(REPO / "examples" / "pricing.toml"), "--out", str(statements / PERIOD), "--no-pdf",
         "--quiet", "--config", str(config)], cwd=REPO, capture_output=True, text=True)
    assert payments.returncode == 0, payments.stderr
    subprocess.run([sys.executable, "-m", "hub", "users", "add", "oficial", "--config", str(config)],
                   input=PASSWORD + "\n", text=True, check=True, cwd=REPO, capture_output=True)
    log = open(tmp / "web.log", "wb")
    web = subprocess.Popen([sys.executable, "-m", "hub", "web", "--config", str(config)],
                           stdout=log, stderr=log, cwd=REPO)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(url + "/health", timeout=1).ok
        except requests.RequestException:
            assert web.poll() is None, (tmp / "web.log").read_text()
            return False

    wait_until(up, 30, message="milk-hub web did not answer")
    try:
        yield dict(url=url, center=center, statements=statements / PERIOD, hub_data=hub_data,
                   written=written, influx=influx)
    finally:
        web.terminate()
        web.wait(10)
        influx.drop_database()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def login(page, url, password=PASSWORD, next_path="/"):
    page.goto(f"{url}/login?next={next_path}")
    page.get_by_test_id("login-user").fill("oficial")
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def statement_total(folder):
    with open(folder / "statements.csv", newline="") as fh:
        return next(row for row in csv.DictReader(fh) if row["producer"] == "TOTAL")


def test_period_shows_the_statement_total(site, browser):
    page = browser.new_page()
    login(page, site["url"], next_path=f"/?period={PERIOD}")
    total = statement_total(site["statements"])
    assert page.get_by_test_id("period-deliveries").inner_text() == total["deliveries"]
    assert page.get_by_test_id("period-liters").inner_text() == total["liters"]
    # ... and the statement counts what was written: rejected ones included, next period's not.
    voided = {d["refers_to"] for d in site["written"].deliveries if d["kind"] == "void"}
    assert len(voided) == 1
    in_period = [d for d in site["written"].deliveries
                 if d["ts"] < "2026-11-16" and d["kind"] == "delivery" and d["id"] not in voided]
    assert int(total["deliveries"]) == len(in_period)
    assert int(total["rejected"]) == sum(1 for d in in_period if not d["accepted"]) > 0
    # Names come from the hub's producer registry.
    assert "Elena Huamán" in page.get_by_test_id("producer-p003").inner_text()
    # Each producer's statement is linked, and opens.
    link = page.get_by_test_id("statement-p003-txt")
    assert link.count() == 1
    with page.expect_response(lambda r: "/statements/" in r.url) as response:
        link.click()
    assert response.value.status == 200 and "p003" in page.content()
    page.close()


def test_stations_and_tank_in_break_shows_red(site, browser):
    page = browser.new_page()
    login(page, site["url"], next_path=f"/?period={PERIOD}")
    c = site["center"]
    assert page.get_by_test_id(f"station-{c}.banco1").get_attribute("data-state") == "online"
    assert page.get_by_test_id(f"station-{c}.banco2").get_attribute("data-state") == "offline"
    last_seq = max(d["seq"] for d in site["written"].deliveries if d["station"] == "banco1")
    assert page.get_by_test_id(f"station-seq-{c}.banco1").inner_text() == str(last_seq)
    # What the recovery index knows banco1 still holds; banco2 lacks nothing.
    assert page.get_by_test_id(f"station-pending-{c}.banco1").inner_text() == "5"
    assert page.get_by_test_id(f"station-pending-{c}.banco2").inner_text() == "0"
    broken = page.get_by_test_id(f"tank-{c}.banco1.tanque1")
    assert broken.get_attribute("data-state") == "break"
    assert broken.evaluate("e => getComputedStyle(e).borderTopColor") == RED
    assert broken.locator(".pill").evaluate("e => getComputedStyle(e).backgroundColor") == RED
    fine = page.get_by_test_id(f"tank-{c}.banco2.tanque1")
    assert fine.get_attribute("data-state") == "cold"
    assert fine.evaluate("e => getComputedStyle(e).borderTopColor") != RED
    # The temperature chart is drawn with the cold-chain limit lines.
    assert broken.locator("svg.chart path.line").count() == 1
    assert broken.locator("svg.chart line.limit").count() == 3
    # The chain break the ingest's watch found is listed.
    finding = page.get_by_test_id("integrity").get_by_test_id("finding")
    assert finding.count() == 1 and "cadena rota" in finding.inner_text()
    page.close()


def test_alert_acknowledged_from_the_page_leaves_the_open_list(site, browser):
    store = AlertStore(site["hub_data"] / "alerts.sqlite3")
    alert = next(a for a in store.active() if a.kind == "break" and a.center == site["center"])
    page = browser.new_page()
    login(page, site["url"], next_path=f"/?period={PERIOD}")
    alerts = page.get_by_test_id("alerts")
    assert alerts.get_by_test_id(f"alert-ack-{alert.id}").count() == 1
    page.get_by_test_id(f"alert-ack-{alert.id}").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("alerts").get_by_test_id(f"alert-ack-{alert.id}").count() == 0
    page.reload()
    assert page.get_by_test_id(f"alert-ack-{alert.id}").count() == 0
    assert page.get_by_test_id(f"alert-acked-{alert.id}").count() == 1
    acked = store.get(alert.id)
    store.close()
    assert acked.acked_by == "oficial" and acked.resolved_at is None
    page.close()


def test_a_new_alert_shows_without_reloading_by_hand(site, browser):
    page = browser.new_page()
    login(page, site["url"], next_path=f"/?period={PERIOD}")
    page.wait_for_load_state("networkidle")
    before = page.get_by_test_id("alerts").locator("li.alert").count()
    engine = data.alert_engine(site["hub_data"])
    try:
        data.write_coldchain(site["influx"], engine, site["center"], "banco2", "tanque1",
                             datetime(2026, 11, 15, 21, 0, tzinfo=LIMA), "sensor_fault", "sonda sin lectura")
    finally:
        engine.store.close()
    page.get_by_test_id(f"tank-{site['center']}.banco2.tanque1").and_(
        page.locator('[data-state="sensor_fault"]')).wait_for(timeout=20_000)
    assert page.get_by_test_id("alerts").locator("li.alert").count() == before + 1
    page.close()


def test_acknowledge_needs_the_page_token(site):
    session, r = logged_in(site["url"])
    assert r.status_code == 303
    forged = session.post(site["url"] + "/alerts/1/ack", data={"csrf": "guessed"}, allow_redirects=False)
    assert forged.status_code == 403


def logged_in(url, next_path="/"):
    session = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', session.get(url + "/login").text).group(1)
    r = session.post(url + "/login", data={"csrf": token, "user": "oficial", "password": PASSWORD,
                                           "next": next_path}, allow_redirects=False)
    return session, r


def test_login_guards_and_bad_input(site):
    url = site["url"]
    r = requests.get(url + f"/?period={PERIOD}", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert requests.get(url + f"/statements/{PERIOD}/p001.txt", allow_redirects=False).status_code == 303
    session, r = logged_in(url, next_path="//elsewhere.example/")
    assert r.status_code == 303 and r.headers["location"] == "/"       # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    bad = session.get(url + "/?period=2026-13-1")
    assert bad.status_code == 400 and "no válido" in bad.text
    for name in ("..%2Fstatements.csv", "p001.csv", "nadie.txt"):
        assert session.get(url + f"/statements/{PERIOD}/{name}").status_code == 404
    page = session.get(url + f"/?period={PERIOD}")
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_receipt_page_is_public(site, browser):
    delivery = next(d for d in site["written"].deliveries if d["accepted"])
    page = browser.new_page()
    page.goto(site["url"] + "/receipt")
    assert page.locator("html").get_attribute("lang") == "es"
    page.get_by_test_id("receipt-input").fill(delivery["receipt_code"].lower())
    page.get_by_test_id("receipt-submit").click()
    assert page.get_by_test_id("receipt-code").inner_text() == delivery["receipt_code"]
    assert page.get_by_test_id("receipt-liters").inner_text() == format_2dp(Decimal(repr(delivery["liters"])))
    assert page.get_by_test_id("receipt-solids").inner_text() == format_2dp(Decimal(repr(delivery["solids_pct"])))
    assert "p0" not in page.get_by_test_id("receipt-result").inner_text()     # no producer shown publicly
    local = datetime.fromisoformat(delivery["ts"]).astimezone(LIMA)
    assert page.get_by_test_id("receipt-date").inner_text() == local.strftime("%Y-%m-%d %H:%M")
    voided = next(d for d in site["written"].deliveries
                  if d["id"] in {v["refers_to"] for v in site["written"].deliveries if v["kind"] == "void"})
    page.get_by_test_id("receipt-input").fill(voided["receipt_code"])
    page.get_by_test_id("receipt-submit").click()
    assert page.get_by_test_id("receipt-result").get_attribute("data-state") == "voided"
    page.get_by_test_id("receipt-input").fill("0000-0000")
    page.get_by_test_id("receipt-submit").click()
    assert "no existe" in page.get_by_test_id("receipt-none").inner_text()
    page.close()


def test_every_asset_is_served_by_the_hub(site, browser):
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site["url"]) else None)
    login(page, site["url"], next_path=f"/?period={PERIOD}")
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("period-deliveries").count() == 1
    assert page.locator("html").get_attribute("lang") == "es"
    assert outside == []
    page.close()


# Last in the file: it locks this address out of the login for the rest of the module.
def test_wrong_password_is_refused_and_repeated_failures_wait(site, browser):
    page = browser.new_page()
    login(page, site["url"], password="no-es-la-clave")
    assert page.get_by_test_id("login-error").inner_text() == "Usuario o contraseña incorrectos."
    assert page.get_by_test_id("period-deliveries").count() == 0
    page.goto(site["url"] + "/")
    assert "/login" in page.url
    for _ in range(3):
        login(page, site["url"], password="otra-mala")
    login(page, site["url"])   # even the right one waits now
    assert "Demasiados intentos" in page.get_by_test_id("login-error").inner_text()
    assert page.get_by_test_id("period-deliveries").count() == 0
    page.close()
