"""The console's pure parts and its shell around the station, without a
browser: the supervisor PIN and its lock, `set-pin`, how numbers and states
are worded, producer numbers, and `run --console-port` as a real process."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import pytest

from collector_station.console import view as v
from collector_station.instruments.simulate import SimulatedBench
from collector_station.intake.flow import match_producer_number
from collector_station.supervisor import LOCK_S, PIN_FILE, SupervisorPin, store_pin
from devtools.servers import REPO, free_port

from .conftest import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pin_is_stored_hashed_and_checked(tmp_path):
    path = store_pin(tmp_path, "4821")
    text = path.read_text()
    assert "4821" not in text and json.loads(text)["scheme"] == "scrypt"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    pin = SupervisorPin(tmp_path)
    assert pin.check("4821").ok
    assert pin.check("4822").result == "wrong"
    store_pin(tmp_path, "777777")                   # a new PIN replaces the old one (new salt)
    assert not pin.check("4821").ok and pin.check("777777").ok


def test_three_wrong_pins_lock_for_a_minute(tmp_path):
    store_pin(tmp_path, "2468")
    clock = Clock()
    pin = SupervisorPin(tmp_path, clock=clock)
    assert pin.check("").result == "missing"        # nothing typed is no guess
    assert pin.check("1111").tries_left == 2
    assert pin.check("2222").tries_left == 1
    locked = pin.check("3333")
    assert locked.result == "locked" and locked.locked_s == int(LOCK_S)
    clock.now += 30
    assert pin.check("2468").result == "locked"     # even the right one
    clock.now += LOCK_S
    assert pin.check("2468").ok
    assert pin.check("0000").tries_left == 2        # a success starts the count again


def test_no_pin_set_refuses(tmp_path):
    assert SupervisorPin(tmp_path).check("1234").result == "not_set"


def station_toml(tmp_path, port: int = 0) -> str:
    bench = SimulatedBench(tmp_path / "bench", tanks=1)   # only its config text: nothing started
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"))
                    + f"\n[console]\nport = {port}\n")
    bench.stop()
    return str(path)


def set_pin(config: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector_station", "set-pin", "--config", config],
                          input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""})


def test_set_pin_command(tmp_path):
    config = station_toml(tmp_path)
    bad = set_pin(config, "12a4\n")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == "collector-station: El PIN debe tener de 4 a 12 dígitos."
    assert not (tmp_path / "data" / PIN_FILE).exists()
    good = set_pin(config, "90210\n")
    assert good.returncode == 0, good.stderr
    assert "90210" not in good.stdout and PIN_FILE in good.stdout
    assert SupervisorPin(tmp_path / "data").check("90210").ok


def test_numbers_and_words():
    assert v.num(20.625) == "20.625" and v.num(20.6) == "20.60" and v.num(20.0) == "20.00"
    assert v.num(None) == "-" and v.num(Decimal("1.031"), 4, 5) == "1.0310"
    assert v.num(12.09, 2, 2) == "12.09" and v.num(15.0, 1, 1) == "15.0"
    assert v.link_view("es", "offline", 12)["words"] == "sin conexión: 12 entregas guardadas, se enviarán solas"
    assert v.link_view("es", "offline", 1)["words"] == "sin conexión: 1 entrega guardada, se enviará sola"
    assert v.link_view("es", "online", 0) == {"state": "online", "outbox": 0, "words": "en línea: todo enviado"}
    assert v.link_view("en", "offline", 3)["words"].startswith("offline: 3 deliveries")
    fault = v.weight_view("es", "fault", None, "overload")
    assert fault == {"kg": "-", "stable": False, "state": "fault", "words": "falla: sobrecarga", "fault": True}
    assert v.weight_view("es", "disconnected", Decimal(20))["kg"] == "-"
    assert v.weight_view("es", "stable", Decimal("20.6"))["kg"] == "20.60"
    assert v.weight_view("es", "empty", Decimal("-0.3"))["words"] == "vacía"


def test_quality_colour():
    low = Decimal("11.5")
    assert v.quality_level(12.09, [], low) == "good"
    assert v.quality_level(11.2, [], low) == "bad"
    assert v.quality_level(12.0, ["density_temp_outside_range"], low) == "warn"
    assert v.quality_level(12.5, ["added_water_suspect"], low) == "bad"
    shown = v.confirmation_view("es", {"number": 3, "replaced": True, "weight_kg": 25.0, "liters": 24.248,
                                       "solids_pct": 12.09, "density_15c": 1.031, "milk_temp_c": 15.0,
                                       "fat_pct": 3.5, "fat_source": "default", "flags": []}, low)
    assert (shown["weight_kg"], shown["liters"], shown["solids"]) == ("25.00", "24.248", "12.09")
    assert shown["replaced"] and shown["fat_source"] == "grasa estimada"


def test_producer_numbers():
    codes = ["p001", "p002", "p012", "x12"]
    assert match_producer_number("1", codes) == "p001"
    assert match_producer_number("002", codes) == "p002"
    assert match_producer_number("12", codes) is None          # two codes carry 12: ask for the code
    assert match_producer_number("7", codes) is None
    assert match_producer_number("p1", codes) is None


def run_station(config: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "collector_station", "run", "--config", config, *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": ""})


def test_run_serves_the_console_and_the_keypad_together(tmp_path):
    config = station_toml(tmp_path, port=free_port())
    port = free_port()
    proc = run_station(config, "--console-port", str(port))
    try:
        url = f"http://127.0.0.1:{port}/"
        page = wait_until(lambda: _get(url), 30, 0.2, "the console answers")
        assert '<html lang="es">' in page and 'data-testid="weight"' in page
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(a.startswith("/static/") for a in assets)   # nothing from elsewhere
        for asset in assets:
            assert _get(url.rstrip("/") + asset)
        state = json.loads(_get(url + "state"))
        assert state["link"]["state"] == "offline" and state["weight"]["kg"] == "-"
        # The keypad face drives the same station the console shows.
        proc.stdin.write("x 1 2468 error\n")
        proc.stdin.flush()
        wait_until(lambda: "PIN de supervisor" in json.loads(_get(url + "state"))["message"]["text"],
                   10, 0.1, "the keypad's answer on the console")
        refused = urllib.request.Request(url + "api/tare", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:        # no X-Console header: refused
            urllib.request.urlopen(refused, timeout=5)
        assert err.value.code == 403
    finally:
        proc.terminate()
        _out, err_text = proc.communicate(timeout=30)
    assert proc.returncode == 0, err_text
    assert "Consola del operador en http://127.0.0.1:" in err_text
    assert "Traceback" not in err_text


def test_run_refuses_a_console_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_station(station_toml(tmp_path), "--console-port", str(port))
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith("collector-station: [console] 127.0.0.1:")
    assert "Traceback" not in err


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.read().decode()
    except OSError:
        time.sleep(0.05)
        return None
