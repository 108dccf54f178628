"""The bench operator's console in a real Chromium (Debian's `chromium`,
driven by Playwright), served by a real Station over simulated instruments
on pseudo-terminals, publishing to the real broker (TLS, its own login)
through a link the test can cut.

Each test does what an operator does: taps the number pad, types with a
keyboard-wedge reader, taps ACCEPT or a reject reason, opens the list of
deliveries to void one with the supervisor's PIN. What the screen shows is
compared with what the station recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from collector_station.config import load_station_config
from collector_station.console.server import ConsoleServer
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station
from devtools.browser import chromium
from devtools.linkcut import LinkRelay
from devtools.servers import REPO

from .conftest import wait_until
from milk_common.contract import hub_status_payload, hub_status_topic
from milk_common.mqtt import stop_loop

pytestmark = pytest.mark.servers

SHOTS = Path(__file__).resolve().parent.parent / ".run" / "console-shots"
PRODUCERS = ("code,name\np001,Rosa Quispe\np002,Juan Mamani\np003,Ana Flores\n"
             "p012,Teodora Huamán Ccori\n")
PIN = "2468"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


class Bench:
    """A station with its console, the simulated instruments and the link."""

    def __init__(self, tmp_path: Path, servers, unique: str, extra: str = "") -> None:
        self.sim = SimulatedBench(tmp_path / "bench", tanks=2, seed=7, frame_interval_s=0.02,
                                  settle_s=0.1).start()
        self.relay = LinkRelay(servers.mqtt_port)
        path = tmp_path / "station.toml"
        access = servers.station_mqtt(unique, "s1")
        path.write_text(self.sim.station_config_text(
            center=unique, station="s1", mqtt_port=self.relay.port, data_dir=str(tmp_path / "data"),
            stable_window_s=0.1, access=access) + extra)
        (tmp_path / "producers.csv").write_text(PRODUCERS)
        imported = subprocess.run([sys.executable, "-m", "collector_station", "producers", "import",
                                   str(tmp_path / "producers.csv"), "--config", str(path)],
                                  capture_output=True, text=True, cwd=REPO)
        assert imported.returncode == 0, imported.stderr
        self.config_path = path
        config = load_station_config(path)
        config = config.model_copy(update={
            "thermometers": config.thermometers.model_copy(update={"interval_s": 0.2, "batch_size": 1}),
            # Through the relay: the link the test cuts.
            "mqtt": config.mqtt.model_copy(update={"reconnect_max_s": 0.5, "port": self.relay.port})})
        # A hub that says it is online (retained, as a real one does): without
        # one the link tile says `hub-down`, never `online`.
        self.hub_topic = hub_status_topic(f"hub-{unique}")
        self.hub = servers.mqtt_client()
        self.hub.connect("127.0.0.1", servers.mqtt_port)
        self.hub.loop_start()
        self.hub.publish(self.hub_topic, json.dumps(hub_status_payload(f"hub-{unique}", "online")),
                         qos=1, retain=True).wait_for_publish(5)
        self.printed: list[str] = []
        self.station = Station(config, display=lambda line: None, printer=self.printed.append).start()
        assert self.station.wait_ready()
        self.console = ConsoleServer(self.station, "127.0.0.1", 0).start()

    def stop(self) -> None:
        self.console.stop()
        self.station.stop()
        self.sim.stop()
        self.relay.close()
        self.hub.publish(self.hub_topic, b"", qos=1, retain=True).wait_for_publish(5)
        stop_loop(self.hub)
        self.hub.disconnect()

    def can(self, kg: float, density: float = 1.031, temp_c: float = 15.0) -> None:
        self.sim.scale.place(kg)
        wait_until(lambda: self.station.scale.state == "stable", 10, 0.02, "stable weight")
        self.sim.densimeter.measure(density, temp_c)

    def lift(self) -> None:
        self.sim.scale.remove()
        wait_until(lambda: self.station.scale.state == "empty", 10, 0.02, "empty scale")

    def records(self) -> list[dict]:
        return self.station.outbox.deliveries()


@pytest.fixture
def bench(tmp_path, servers, unique):
    b = Bench(tmp_path, servers, unique)
    yield b
    b.stop()


@pytest.fixture
def page(browser, bench):
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="es-PE")
    p = context.new_page()
    p.set_default_timeout(20_000)
    p.goto(bench.console.url)
    yield p
    context.close()


def tid(page, name):
    return page.get_by_test_id(name)


def text_of(page, name) -> str:
    return tid(page, name).inner_text().strip()


def wait_text(page, name, expected: str, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        "([n, t]) => { const e = document.querySelector(`[data-testid='${n}']`);"
        " return e && e.textContent.trim() === t; }", arg=[name, expected], timeout=timeout_ms)


def wait_attr(page, name, attr, expected: str, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        "([n, a, v]) => { const e = document.querySelector(`[data-testid='${n}']`);"
        " return e && e.getAttribute(a) === v; }", arg=[name, attr, expected], timeout=timeout_ms)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"))


def confirmation(page) -> dict:
    return {"weight_kg": text_of(page, "confirm-weight-kg"), "liters": text_of(page, "confirm-liters"),
            "solids": text_of(page, "confirm-solids")}


def matches(shown: dict, record: dict) -> bool:
    return (float(shown["weight_kg"]) == record["weight_kg"] and float(shown["liters"]) == record["liters"]
            and float(shown["solids"]) == record["solids_pct"])


# -- a whole delivery ---------------------------------------------------------------
def test_delivery_by_touch(page, bench):
    assert page.evaluate("document.documentElement.lang") == "es"
    wait_attr(page, "link", "data-state", "online", 30_000)
    shot(page, "ready")
    for key in ("1", "2"):                       # producer number 12 on the touch pad
        tid(page, f"pad-{key}").click()
    tid(page, "pad-ok").click()
    wait_text(page, "producer-name", "p012 · Teodora Huamán Ccori")
    bench.can(20.62)
    wait_text(page, "weight", "20.62")
    assert tid(page, "accept").is_disabled()     # the alcohol test is required first
    tid(page, "alcohol-pass").click()
    wait_text(page, "confirm-solids", "12.09")
    shown = confirmation(page)
    assert shown == {"weight_kg": "20.62", "liters": "20.00", "solids": "12.09"}
    shot(page, "confirm")
    tid(page, "accept").click()
    wait_attr(page, "result", "data-state", "accepted")
    record = bench.records()[-1]
    assert record["producer"] == "p012" and record["accepted"] and record["alcohol_test"] == "pass"
    assert matches(shown, record)
    wait_text(page, "receipt-code", record["receipt_code"])
    assert "Teodora Huamán Ccori" in bench.printed[-1] and record["receipt_code"] in bench.printed[-1]
    shot(page, "accepted")
    bench.lift()
    # The code stays on screen after the can is lifted, until the next delivery is recorded.
    wait_text(page, "weight", "0.00")
    assert text_of(page, "receipt-code") == record["receipt_code"]
    assert len(bench.records()) == 1


def test_delivery_by_keyboard_wedge_and_unknown_code(page, bench):
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.type("p999")                   # an RFID card of nobody registered
    page.keyboard.press("Enter")
    wait_attr(page, "message", "class", "message error")
    assert "p999" in text_of(page, "message") and "no registrado" in text_of(page, "message")
    assert text_of(page, "producer-name") == "-"
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.type("p002")                   # the reader types the code and Enter, no field focused
    page.keyboard.press("Enter")
    wait_text(page, "producer-name", "p002 · Juan Mamani")
    assert tid(page, "producer-input").input_value() == "p002"
    bench.can(15.46, density=1.030, temp_c=18.0)
    tid(page, "alcohol-pass").click()
    page.wait_for_function("() => document.querySelector(`[data-testid='accept']`).disabled === false")
    shown = confirmation(page)
    tid(page, "accept").click()
    wait_attr(page, "result", "data-state", "accepted")
    record = bench.records()[-1]
    assert record["producer"] == "p002" and matches(shown, record)
    assert [r["producer"] for r in bench.records()] == ["p002"]      # p999 left no record


def test_confirmation_is_frozen_and_replaced_before_accept(page, bench):
    tid(page, "producer-input").fill("p001")
    tid(page, "producer-input").press("Enter")
    wait_text(page, "producer-name", "p001 · Rosa Quispe")
    tid(page, "alcohol-pass").click()
    bench.can(20.62)
    wait_text(page, "confirm-weight-kg", "20.62")
    first = confirmation(page)
    number = int(tid(page, "confirm-weight-kg").evaluate("e => e.closest('.confirm').dataset.number"))
    # Lifting the can keeps what is shown: the live weight drops, the confirmation stays.
    bench.lift()
    wait_text(page, "weight", "0.00")
    assert confirmation(page) == first
    # Another can (a different stable weight) replaces it, visibly, before ACCEPT can record.
    bench.sim.scale.place(25.0)
    wait_text(page, "confirm-weight-kg", "25.00")
    assert page.locator("#confirm").evaluate("e => e.classList.contains('is-replaced')")
    shot(page, "replaced")
    # A page still showing the old values (a slow screen) cannot accept them.
    stale = page.evaluate("""(n) => fetch('/api/decide', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-Console': '1'},
        body: JSON.stringify({accept: true, confirmation: n})}).then(r => r.json())""", number)
    assert stale["ok"] is False and bench.records() == []
    # A new analysis replaces it too.
    from decimal import Decimal

    from collector_station.intake.quality import assess
    bench.sim.densimeter.measure(1.0290, 16.0)
    wait_text(page, "confirm-solids", f"{assess(Decimal('1.0290'), Decimal('16.0')).solids_pct_2dp:.2f}")
    shown = confirmation(page)
    assert shown["weight_kg"] == "25.00" and shown != first
    tid(page, "accept").click()
    wait_attr(page, "result", "data-state", "accepted")
    [record] = bench.records()
    assert matches(shown, record) and record["density_g_ml"] == 1.029
    # A reload of the page (or a second tap sent again) records nothing twice.
    page.reload()
    wait_attr(page, "result", "data-state", "accepted")
    again = page.evaluate("""(n) => fetch('/api/decide', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-Console': '1'},
        body: JSON.stringify({accept: true, confirmation: n})}).then(r => r.json())""", number + 2)
    assert again["ok"] is False and len(bench.records()) == 1


def test_reload_mid_delivery_keeps_the_state(page, bench):
    tid(page, "producer-input").fill("p003")
    tid(page, "producer-input").press("Enter")
    wait_text(page, "producer-name", "p003 · Ana Flores")
    tid(page, "alcohol-pass").click()
    bench.can(12.3)
    wait_text(page, "confirm-weight-kg", "12.30")
    before = confirmation(page)
    page.reload()                                # the state lives in the station, not the page
    wait_text(page, "producer-name", "p003 · Ana Flores")
    assert confirmation(page) == before
    assert tid(page, "alcohol-pass").get_attribute("aria-pressed") == "true"
    tid(page, "accept").click()
    wait_attr(page, "result", "data-state", "accepted")
    assert len(bench.records()) == 1 and matches(before, bench.records()[0])


def test_rejection_with_a_reason(page, bench):
    tid(page, "producer-input").fill("p001")
    tid(page, "producer-input").press("Enter")
    wait_text(page, "producer-name", "p001 · Rosa Quispe")
    bench.can(18.0, density=1.026)               # low density: added water suspected
    tid(page, "alcohol-pass").click()
    try:
        page.wait_for_selector("[data-flag='added_water_suspect']")
    except Exception:
        print(json.dumps(page.evaluate("fetch('/state').then(r => r.json())"), indent=1)[:3000])
        raise
    assert page.locator("#confirm").get_attribute("data-level") == "bad"
    tid(page, "reject").click()
    shot(page, "reject-reasons")
    tid(page, "reject-reason-organoleptic_fail").click()
    wait_attr(page, "result", "data-state", "rejected")
    [record] = bench.records()
    assert record["accepted"] is False and record["reject_reason"] == "organoleptic_fail"
    assert record["weight_kg"] == 18.0
    assert "olor" in tid(page, "result").inner_text().lower()
    wait_text(page, "receipt-code", record["receipt_code"])
    assert "RECHAZADA" in bench.printed[-1]


def test_scale_unplugged_mid_delivery(page, bench):
    tid(page, "producer-input").fill("p002")
    tid(page, "producer-input").press("Enter")
    tid(page, "alcohol-pass").click()
    bench.sim.scale.place(14.0)
    bench.sim.scale_port.unplug()
    page.wait_for_function("() => document.getElementById('weightbox').dataset.state === 'disconnected'")
    assert "desconect" in text_of(page, "message").lower() or \
        "desconect" in page.locator("#stable-sign").inner_text().lower()
    assert text_of(page, "weight") == "-" and tid(page, "accept").is_disabled()
    shot(page, "unplugged")
    bench.sim.densimeter.measure(1.031, 15.0)
    assert bench.station.wait_for_delivery(0, 0.5) is None          # no partial record
    bench.sim.scale_port.plug()
    wait_text(page, "confirm-weight-kg", "14.00", 20_000)
    tid(page, "accept").click()
    wait_attr(page, "result", "data-state", "accepted")
    assert [r["weight_kg"] for r in bench.records()] == [14.0]


# -- the supervisor's void --------------------------------------------------------
def deliver_by_station(bench, producer: str, kg: float) -> dict:
    last = bench.station.last_delivery["seq"] if bench.station.last_delivery else 0
    bench.station.enter_producer(producer)
    bench.station.record_test("alcohol", True)
    bench.can(kg)
    wait_until(lambda: bench.station.confirmation is not None, 5, 0.02, "confirmation")
    assert bench.station.decide(True, confirmation=bench.station.confirmation["number"])
    record = bench.station.wait_for_delivery(last, 5)
    bench.lift()
    return record


def test_void_refused_without_pin_accepted_with_it(page, bench):
    record = deliver_by_station(bench, "p001", 21.5)
    set_pin = subprocess.run([sys.executable, "-m", "collector_station", "set-pin", "--config",
                              str(bench.config_path)], input=PIN + "\n", text=True,
                             capture_output=True, cwd=REPO)
    assert set_pin.returncode == 0, set_pin.stderr
    stored = (Path(bench.station.config.data_dir) / "supervisor-pin.json").read_text()
    assert PIN not in stored and json.loads(stored)["scheme"] == "scrypt"
    tid(page, "open-deliveries").click()
    tid(page, f"delivery-{record['seq']}").click()
    tid(page, "void").click()
    tid(page, "reason").fill("error de digitación")
    with page.expect_response("**/api/void"):
        tid(page, "void-confirm").click()              # no PIN
    wait_attr(page, "message", "class", "message error")
    assert "PIN" in text_of(page, "message")
    tid(page, "supervisor-pin").fill("1111")           # a wrong PIN
    with page.expect_response("**/api/void"):
        tid(page, "void-confirm").click()
    page.wait_for_function("() => document.querySelector(`[data-testid='message']`).textContent.includes('incorrecto')")
    assert len(bench.records()) == 1                   # nothing recorded
    shot(page, "void")
    for key in PIN:                                    # the right one, on the PIN pad
        page.locator(f"#pinpad [data-pin='{key}']").click()
    tid(page, "void-confirm").click()
    page.wait_for_function("() => document.getElementById('deliveries-panel').hidden")
    wait_attr(page, "result", "data-state", "rejected")
    void = bench.records()[-1]
    assert void["kind"] == "void" and void["refers_to"] == record["id"] and void["note"] == "error de digitación"
    receipt = " ".join(bench.printed[-1].split())
    assert f"Anula la entrega N.º {record['seq']} del productor p001" in receipt
    assert record["id"][:12] not in bench.printed[-1]
    assert f"(N.º {record['seq']})" in tid(page, "result").inner_text()
    tid(page, "open-deliveries").click()
    assert tid(page, f"delivery-{record['seq']}").get_attribute("data-state") == "voided"


def test_pin_locked_after_three_wrong_tries(bench, page):
    record = deliver_by_station(bench, "p002", 10.0)
    subprocess.run([sys.executable, "-m", "collector_station", "set-pin", "--config",
                    str(bench.config_path)], input=PIN + "\n", text=True, check=True,
                   capture_output=True, cwd=REPO)
    tid(page, "open-deliveries").click()
    tid(page, f"delivery-{record['seq']}").click()
    tid(page, "void").click()
    tid(page, "reason").fill("registrada dos veces")
    for wrong in ("0000", "1234", "9999"):
        tid(page, "supervisor-pin").fill(wrong)
        with page.expect_response("**/api/void"):
            tid(page, "void-confirm").click()
    assert "bloqueado" in text_of(page, "message")
    tid(page, "supervisor-pin").fill(PIN)               # even the right one, for a minute
    with page.expect_response("**/api/void") as answer:
        tid(page, "void-confirm").click()
    assert answer.value.json()["ok"] is False and "bloqueado" in text_of(page, "message")
    assert len(bench.records()) == 1


# -- the rest of the bench's day ---------------------------------------------------
def test_link_offline_outbox_rises_then_drains(page, bench, servers, unique):
    got: list[dict] = []
    ready = threading.Event()
    client = servers.mqtt_client()
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe(f"milk/v1/{unique}/s1/delivery", qos=1)
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    try:
        assert ready.wait(5)
        wait_attr(page, "link", "data-state", "online")
        bench.relay.cut()
        wait_attr(page, "link", "data-state", "offline")
        first = deliver_by_station(bench, "p001", 11.0)
        wait_attr(page, "link", "data-outbox", "1")
        second = deliver_by_station(bench, "p003", 12.0)
        wait_attr(page, "link", "data-outbox", "2")
        assert "2 entregas guardadas, se enviarán solas" in tid(page, "link").inner_text()
        shot(page, "offline")
        bench.relay.restore()
        wait_attr(page, "link", "data-state", "online", 20_000)
        wait_attr(page, "link", "data-outbox", "0", 20_000)
        wait_until(lambda: {d["id"] for d in got} >= {first["id"], second["id"]}, 10,
                   message="both deliveries at the broker")
    finally:
        stop_loop(client)
        client.disconnect()


def test_tank_break_turns_its_tile_red(tmp_path, servers, unique, browser):
    bench = Bench(tmp_path, servers, unique, extra="\n[coldchain]\nblend_max_c = 10.0\n")
    context = browser.new_context(viewport={"width": 800, "height": 480})
    page = context.new_page()
    try:
        tank = bench.sim.tanks["tank2"]
        tank.temp_c = 3.8
        tank.write()
        page.goto(bench.console.url)
        wait_attr(page, "tank-tank2", "data-state", "empty")
        tank.temp_c = 14.0                         # the blend will be warmer than the limit: a break
        tank.write()
        page.get_by_test_id("tank-tank2").click()     # milk poured in by hand, from the tile
        page.get_by_test_id("tank-milk-added").click()
        wait_attr(page, "tank-tank2", "data-state", "break")
        colour = page.evaluate("""() => getComputedStyle(document.querySelector(
            "[data-testid='tank-tank2']")).backgroundColor""")
        red, green, blue = [int(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
        assert red > 100 and green < 60 and blue < 60, colour
        assert page.get_by_test_id("tank-tank1").get_attribute("data-state") == "empty"
        shot(page, "tank-break")
    finally:
        context.close()
        bench.stop()


# -- the technician's screen ----------------------------------------------------------
def test_technician_calibrates_the_bridge_scale_behind_the_pin(tmp_path, browser):
    from decimal import Decimal

    from collector_station.instruments import calibration as cal
    from collector_station.instruments.protocols.bridge import (
        SIM_COUNTS_PER_KG,
        SIM_OFFSET_COUNTS,
    )
    from collector_station.supervisor import store_pin
    sim = SimulatedBench(tmp_path / "bench", seed=9, frame_interval_s=0.02, settle_s=0.2,
                         scale_format="bridge").start()
    text = sim.station_config_text(center="c1", station="s1", mqtt_port=1,
                                   data_dir=str(tmp_path / "data"), stable_window_s=0.2)
    # A new load cell: the config's numbers are wrong until the technician calibrates.
    text = text.replace(f"counts_per_kg = {SIM_COUNTS_PER_KG}", "counts_per_kg = 18000")
    text = text.replace(f"offset_counts = {SIM_OFFSET_COUNTS}", "offset_counts = 0")
    (tmp_path / "station.toml").write_text(text + '\n[registry]\nrequire_known = false\n')
    config = load_station_config(tmp_path / "station.toml")
    store_pin(config.data_dir, PIN)
    station = Station(config, display=lambda line: None, printer=lambda t: None).start()
    console = ConsoleServer(station, "127.0.0.1", 0).start()
    context = browser.new_context(viewport={"width": 800, "height": 480})
    page = context.new_page()
    page.set_default_timeout(40_000)

    def message_has(words: str) -> None:
        try:
            page.wait_for_function("(w) => document.querySelector(`[data-testid='message']`)"
                                   ".textContent.includes(w)", arg=words)
        except Exception:
            raise AssertionError(f"{words!r} not in {text_of(page, 'message')!r}") from None

    def put(kg: float) -> None:
        """Put `kg` on the platform and wait until the station has read it at rest
        (through whichever calibration it weighs with now)."""
        sim.scale.remove() if kg == 0 else sim.scale.place(kg)
        raw = SIM_OFFSET_COUNTS + round(kg * SIM_COUNTS_PER_KG)
        wait_until(lambda: station.scale.state in ("stable", "empty") and station.scale.last_weight
                   and abs(station.scale.calibration.weight(raw).value_kg
                           - station.scale.last_weight.value_kg) < Decimal("0.05"), 20, 0.02,
                   f"the station reads {kg} kg at rest")

    def read_with(kg: float) -> None:
        put(kg)
        with page.expect_response("**/api/technician"):
            tid(page, "cal-read").click()

    try:
        assert station.wait_ready()
        page.goto(console.url)
        tid(page, "open-shift").click()
        tid(page, "open-technician").click()
        tid(page, "technician-pin").fill("0000")
        tid(page, "technician-unlock").click()
        message_has("incorrecto")
        assert tid(page, "cal-start").is_hidden()             # nothing without the PIN
        tid(page, "technician-pin").fill(PIN)
        tid(page, "technician-unlock").click()
        tid(page, "cal-start").wait_for()
        # A second weight that is not what it claims: refused, nothing saved.
        tid(page, "cal-first-kg").fill("10")
        tid(page, "cal-second-kg").fill("20")
        tid(page, "cal-start").click()
        wait_text(page, "cal-step", "Paso 1 de 3: vacíe la plataforma y toque «Leer la balanza».")
        read_with(0)
        wait_text(page, "cal-step", "Paso 2 de 3: ponga la pesa de 10 kg en el centro de la plataforma y toque «Leer la balanza».")
        read_with(10.0)
        read_with(19.5)
        message_has("Calibración rechazada")
        assert cal.load_calibration(config.data_dir) is None
        # Done right: saved, and the scale weighs with it at once.
        tid(page, "cal-start").click()
        read_with(0)
        read_with(10.0)
        shot(page, "technician")
        read_with(20.0)
        message_has("Calibración guardada")
        saved = cal.load_calibration(config.data_dir)
        assert abs(saved.counts_per_kg - SIM_COUNTS_PER_KG) < 5
        sim.scale.place(15.37)
        tid(page, "technician-close").click()
        wait_text(page, "weight", "15.37")
        # The weekly check with the test weight.
        tid(page, "open-shift").click()
        tid(page, "open-technician").click()
        tid(page, "technician-pin").fill(PIN)
        tid(page, "technician-unlock").click()
        sim.scale.place(20.0)
        tid(page, "check-kg").fill("20")
        tid(page, "check-start").click()
        message_has("Verificación correcta")
        assert '"event": "check_passed"' in (Path(config.data_dir) / cal.LOG_FILE).read_text()
    finally:
        context.close()
        console.stop()
        station.stop()
        sim.stop()
