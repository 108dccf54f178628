"""A bench driven by hand, as a technician (or a browser test) does it: the
manual simulator and the station as real processes on real pseudo-terminals,
the keypad on the station's standard input, the real broker, and
`collector-station deliveries` reading back what was published."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.devices import tank_probes
from collector_station.instruments.manual import ManualCommand, ManualError, parse_manual_line

from .conftest import wait_until
from milk_common.mqtt import stop_loop

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "LC_ALL": ""}


class Process:
    """A command whose output lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "collector_station", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=REPO, env=ENV)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, got=lines: [got.append(x.rstrip("\n")) for x in s],
                             daemon=True).start()

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def said(self, words: str, timeout: float = 10) -> None:
        wait_until(lambda: any(words in line for line in self.out), timeout, 0.02,
                   f"{words!r} in {self.out[-5:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def collector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector_station", *args], capture_output=True,
                          text=True, cwd=REPO, env=ENV, timeout=60)


@pytest.mark.parametrize("line, expected", [
    ("can 20.5 1.031 15", ManualCommand("can", kg=20.5, density_g_ml=1.031, temp_c=15.0)),
    ("CAN 12,4 1,0290 18 3.8", ManualCommand("can", kg=12.4, density_g_ml=1.029, temp_c=18.0, fat_pct=3.8)),
    ("off", ManualCommand("off")),
    ("tank tank1 4.5", ManualCommand("tank", temp_c=4.5, tank="tank1")),
    ("unplug", ManualCommand("unplug")),
    ("plug", ManualCommand("plug")),
    ("", None), ("   # a comment", None),
])
def test_manual_lines(line, expected):
    assert parse_manual_line(line, ["tank1"]) == expected


@pytest.mark.parametrize("line, key", [
    ("can 20 1.031", "sim.bad_line"), ("can twenty 1.031 15", "sim.bad_line"),
    ("can 20 1031 15", "sim.bad_value"), ("can 20 1.031 15 55", "sim.bad_value"),
    ("can 20 1.031 nan", "sim.bad_line"), ("tank tank7 4", "sim.unknown_tank"),
    ("tank tank1 hot", "sim.bad_line"), ("off now", "sim.bad_line"), ("jump", "sim.bad_line"),
])
def test_bad_manual_lines_are_named_errors(line, key):
    parsed = parse_manual_line(line, ["tank1"])
    assert isinstance(parsed, ManualError) and parsed.key == key


@pytest.mark.servers
def test_a_bench_driven_by_hand_records_what_it_showed(servers, tmp_path, unique):
    received: list[bytes] = []
    sub = servers.mqtt_client()           # TLS, the hub's read-all login
    subscribed = threading.Event()
    sub.on_connect = lambda c, *a: c.subscribe(f"milk/v1/{unique}/+/delivery", qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: received.append(m.payload)
    sub.connect("127.0.0.1", servers.mqtt_port)
    sub.loop_start()
    assert subscribed.wait(5)

    config = tmp_path / "station.toml"
    access = tmp_path / "access.toml"      # the station's own broker login and key
    access.write_text(servers.station_mqtt(unique, "banco1"))
    sim = Process("simulate", "--dir", str(tmp_path / "sim"), "--write-config", str(config),
                  "--manual", "--center", unique, "--mqtt-port", str(servers.mqtt_port),
                  "--access", str(access))
    station = None
    try:
        sim.said("config:")
        sim.said("Modo manual")
        # The keypad face; the console listens on any free port (tests run side by side).
        station = Process("run", "--config", str(config), "--console-port", "0")
        station.said("lista")
        wait_until(lambda: sum("conectado" in line for line in station.out) >= 2, 10, 0.05,
                   f"scale and densimeter connected: {station.out} {station.err[-5:]}")
        # The simulated producers are known from the start, with their names.
        station.send("p021")
        station.said("no registrado")
        station.send("p001")
        station.said("Productor p001")
        sim.send("can 20.62 1.031 15")
        station.send("ap")
        station.said("Se registrará: 20.62 kg, 20.00 L")
        # A typo on the simulator's line: one Spanish line, and it goes on.
        sim.send("can veinte 1.031 15")
        wait_until(lambda: any("Línea no entendida" in e for e in sim.err), 5, 0.02)
        # The can is lifted while the operator decides: the values stay.
        before = len(station.out)
        sim.send("off")
        time.sleep(1.0)
        assert not any("Valores nuevos" in line or "Esperando" in line
                       for line in station.out[before:]), station.out[before:]
        station.send("+")
        station.said("Entrega N.º 1 registrada")
        wait_until(lambda: len(received) == 1, 10, 0.05, "the delivery published")

        # The scale's cable pulled and put back.
        sim.send("unplug")
        station.said("desconectado")
        sim.send("plug")
        wait_until(lambda: sum("conectado" in line and "des" not in line for line in station.out) >= 3,
                   15, 0.05, "the scale connected again")
        # The tank follows the typed temperature.
        sim.send("tank tank1 11.5")
        probes = tank_probes(load_station_config(config).thermometers)
        wait_until(lambda: probes["tank1"].read_c() == 11.5, 5, 0.05)
        # The end of the typed input leaves the instruments up until the simulator is stopped.
        sim.proc.stdin.close()
        time.sleep(0.5)
        assert sim.proc.poll() is None and (tmp_path / "sim" / "scale").is_symlink()
    finally:
        if station:
            assert station.stop() == 0, station.err
        assert sim.stop() == 0, sim.err
        stop_loop(sub)
        sub.disconnect()
    assert not any("Traceback" in line for line in sim.err + (station.err if station else []))

    # The record is the one shown, not the empty scale after the lift.
    as_json = collector("deliveries", "--config", str(config), "--json")
    assert as_json.returncode == 0, as_json.stderr
    lines = as_json.stdout.splitlines()
    assert lines == [received[0].decode()]                  # byte for byte what was published
    record = json.loads(lines[0])
    assert record["schema"] == "delivery/1" and record["weight_kg"] == 20.62
    assert record["liters"] == 20.0 and record["producer"] == "p001"

    human = collector("deliveries", "--config", str(config), "--last", "5")
    assert human.returncode == 0, human.stderr
    header, row = human.stdout.splitlines()
    assert header.split()[:3] == ["N.º", "Fecha", "y"]
    assert "p001 Rosa Quispe" in row and "20.62" in row and "aceptada" in row
    assert record["receipt_code"] in row

    bad = collector("deliveries", "--config", str(config), "--last", "0")
    assert bad.returncode == 2 and "número entero" in bad.stderr and "Traceback" not in bad.stderr


def test_deliveries_without_a_database_is_one_spanish_line(tmp_path):
    config = tmp_path / "station.toml"
    config.write_text(f'center = "c1"\nstation = "s1"\ndata_dir = "{tmp_path / "nothing"}"\n'
                      '[scale]\nport = "/dev/null"\n[densimeter]\nport = "/dev/null"\n')
    run = collector("deliveries", "--config", str(config))
    assert run.returncode == 2 and "no hay base de datos" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nothing").exists()          # reading never creates the database


def test_deliveries_table_names_voids_by_number_never_by_id():
    from collector_station.outbox.listing import table_lines
    base = {"ts": "2026-11-12T06:30:00.000-05:00", "weight_kg": 20.62, "liters": 20.0,
            "solids_pct": 12.09, "receipt_code": "AB12-CD34"}
    records = [
        {**base, "id": "a" * 32, "seq": 7, "producer": "p001", "accepted": True},
        {**base, "id": "b" * 32, "seq": 8, "producer": "p002", "accepted": False,
         "reject_reason": "alcohol_positive", "weight_kg": None, "liters": 0.0, "solids_pct": None},
        {**base, "id": "c" * 32, "seq": 9, "producer": "p001", "kind": "void", "refers_to": "a" * 32,
         "accepted": False, "liters": 0.0},
        {**base, "id": "d" * 32, "seq": 10, "producer": "p005", "kind": "correction",
         "refers_to": "z" * 32, "accepted": True},
    ]
    lines = table_lines(records, "es", names={"p001": "Rosa Quispe"}.get,
                        seq_of={"a" * 32: 7, "z" * 32: 3}.get)
    assert len(lines) == 5
    assert "p001 Rosa Quispe" in lines[1] and "aceptada" in lines[1] and "06:30" in lines[1]
    assert "rechazada: prueba de alcohol positiva" in lines[2] and " - " in lines[2]
    assert "None" not in "".join(lines)
    assert lines[3].endswith("anula la N.º 7") and "a" * 32 not in lines[3]
    assert lines[4].endswith("corrige la N.º 3")
    assert table_lines([], "en") == ["No deliveries recorded."]
    assert table_lines(records[:1], "en")[1].endswith("accepted")
