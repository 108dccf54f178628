"""The bench service over pseudo-terminals and a fake 1-Wire folder, with the
station's real drivers, publishing to the real broker."""

import json
import threading
import time
from datetime import datetime

import pytest

from collector_station.config import load_station_config
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station

from .conftest import wait_until
from milk_common.mqtt import stop_loop

pytestmark = pytest.mark.servers


class Subscriber:
    def __init__(self, servers, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.client = servers.mqtt_client()      # TLS, the hub's read-all login
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.ready = threading.Event()
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", servers.mqtt_port)
        self.client.loop_start()
        assert self.ready.wait(5)

    def of_kind(self, suffix: str) -> list[dict]:
        return [p for t, p in self.messages if t.endswith(suffix) or f"/{suffix}/" in t]

    def close(self) -> None:
        stop_loop(self.client)
        self.client.disconnect()


@pytest.fixture
def bench(tmp_path):
    bench = SimulatedBench(tmp_path / "bench", tanks=2, seed=3, frame_interval_s=0.01,
                           settle_s=0.05).start()
    yield bench
    bench.stop()


AUTOMATIC = """
[acceptance]
alcohol_test = "off"
organoleptic = "off"
confirm = false

[registry]
require_known = false
"""


def make_station(bench, tmp_path, servers, unique, extra=AUTOMATIC, printer=None):
    """A station on the simulated bench; by default it records as soon as the
    weight is stable and the density arrived (no tests, no confirmation).
    It logs in to the broker as itself, with its provisioned key (`servers`
    may be a bare port number for a station whose broker is unreachable)."""
    path = tmp_path / "station.toml"
    if isinstance(servers, int):
        port, access = servers, ""
    else:
        port, access = servers.mqtt_port, servers.station_mqtt(unique, "s1")
    path.write_text(bench.station_config_text(center=unique, station="s1", mqtt_port=port,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05,
                                              access=access)
                    + extra)
    config = load_station_config(path)
    config = config.model_copy(update={
        "thermometers": config.thermometers.model_copy(update={"interval_s": 0.1, "batch_size": 3}),
        "mqtt": config.mqtt.model_copy(update={"reconnect_max_s": 0.5})})
    shown: list[str] = []
    return Station(config, display=shown.append, printer=printer), shown


def deliver(station, bench, producer, kg, density=1.031, temp=15.0, after_seq=0):
    station.enter_producer(producer)
    bench.scale.place(kg)
    bench.densimeter.measure(density, temp)
    delivery = station.wait_for_delivery(after_seq, timeout_s=10)
    assert delivery is not None, "no delivery recorded"
    bench.scale.remove()
    wait_until(lambda: station.scale.state == "empty", 5)
    return delivery


def test_bench_delivery_published_with_spanish_display(servers, bench, tmp_path, unique):
    sub = Subscriber(servers, f"milk/v1/{unique}/#")
    station, shown = make_station(bench, tmp_path, servers, unique)
    station.start()
    assert station.wait_ready()
    try:
        first = deliver(station, bench, "p001", 20.62)
        second = deliver(station, bench, "p002", 10.31, density=1.0250, temp=25.0,
                         after_seq=first["seq"])
        wait_until(lambda: len(sub.of_kind("delivery")) == 2, message="two deliveries on MQTT")
        wait_until(lambda: len(sub.of_kind("tank")) >= 2, message="tank batches on MQTT")
    finally:
        station.stop()
        sub.close()
    got = sub.of_kind("delivery")
    assert [d["id"] for d in got] == [first["id"], second["id"]]
    assert got[0]["weight_kg"] == 20.62 and got[0]["liters"] == 20.0
    assert got[0]["solids_pct"] == 12.09 and got[0]["seq"] == 1
    assert datetime.fromisoformat(got[0]["ts"]).utcoffset() is not None
    assert "added_water_suspect" in got[1]["flags"]
    assert "density_temp_outside_range" in got[1]["flags"]
    tank = sub.of_kind("tank")[0]
    assert tank["schema"] == "tank/1" and 1 <= len(tank["samples"]) <= 3
    assert any(p.get("status") == "online" for t, p in sub.messages if t.endswith("/status"))
    assert any("Entrega N.º 1 registrada" in line for line in shown)
    assert any("coloque la cantina" in line for line in shown)


def test_station_works_offline_and_sends_later_in_order(servers, bench, tmp_path, unique):
    station, _ = make_station(bench, tmp_path, 1, unique)   # nothing listens on port 1
    station.start()
    assert station.wait_ready()
    recorded = []
    try:
        seq = 0
        for i in range(3):
            d = deliver(station, bench, f"p{i:03d}", 12 + i, after_seq=seq)
            seq = d["seq"]
            recorded.append(d)
        assert station.outbox.backlog() >= 3
    finally:
        station.stop()
    # Restarted with the broker reachable: the backlog goes out, in order, same ids.
    sub = Subscriber(servers, f"milk/v1/{unique}/+/delivery")
    station, _ = make_station(bench, tmp_path, servers, unique)
    station.start()
    assert station.wait_ready()
    try:
        wait_until(lambda: len(sub.messages) == 3, message="backlog published")
        wait_until(lambda: station.outbox.backlog() == 0)
    finally:
        station.stop()
        sub.close()
    assert [p["id"] for _, p in sub.messages] == [d["id"] for d in recorded]


def test_scale_unplugged_mid_run_and_plugged_back(servers, bench, tmp_path, unique):
    sub = Subscriber(servers, f"milk/v1/{unique}/s1/status")
    station, shown = make_station(bench, tmp_path, servers, unique)
    station.start()
    assert station.wait_ready()
    try:
        first = deliver(station, bench, "p001", 20.0)
        station.enter_producer("p002")
        bench.scale.place(18.0)
        bench.scale_port.unplug()
        bench.densimeter.measure(1.031, 15.0)
        wait_until(lambda: station.scale.state == "disconnected", 5)
        time.sleep(0.3)
        assert station.wait_for_delivery(first["seq"], timeout_s=0.2) is None  # no partial delivery
        bench.scale_port.plug()
        second = station.wait_for_delivery(first["seq"], timeout_s=15)
        assert second is not None and second["producer"] == "p002" and second["weight_kg"] == 18.0
    finally:
        station.stop()
    assert any("desconectado" in line for line in shown)
    assert station.scale.instrument.reopen_count >= 1
    # The status topic said so: disconnected, then connected again.
    states = [p.get("devices", {}).get("scale") for _, p in sub.messages]
    sub.close()
    assert "disconnected" in states
    assert states.index("disconnected") < len(states) - 1 - states[::-1].index("connected")


def test_registry_pushed_from_the_hub(servers, bench, tmp_path, unique):
    import subprocess
    import sys
    station, shown = make_station(bench, tmp_path, servers, unique, extra="")
    station.start()
    assert station.wait_ready()
    try:
        assert not station.enter_producer("p001")            # unknown until the hub sends it
        (tmp_path / "producers.csv").write_text("code,name,lab_fat_pct,lab_date\n"
                                                "p001,Rosa,4.1,2026-11-20\np002,Juan,,\n")
        (tmp_path / "hub.toml").write_text(f"[mqtt]\nport = {servers.mqtt_port}\n"
                                           + servers.security.hub_mqtt_lines())
        run = subprocess.run([sys.executable, "-m", "hub", "registry", "publish", "--center", unique,
                              "--csv", str(tmp_path / "producers.csv"), "--config",
                              str(tmp_path / "hub.toml")], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        wait_until(lambda: station.registry.count() == 2, message="registry received")
        assert station.enter_producer("p001")
        lab = station.registry.lab_fat("p001", datetime(2026, 11, 25).date(), 15)
        assert lab is not None and str(lab.fat_pct) == "4.1"
        assert any("Registro de productores actualizado: 2" in m for m in shown)
    finally:
        station.stop()
