"""Hub payload validation, dead letters and config errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from milk_common.contract import InvalidPayload, decode_station_message
from milk_common.integrity import GENESIS, seal

from hub.store.influx import line
from hub.store.points import points

from .conftest import wait_until
from .test_pipeline import hub_connected, hub_status, stored
from milk_common.mqtt import stop_loop

REPO = Path(__file__).resolve().parent.parent
GOOD = {"schema": "delivery/1", "id": "a1b2c3", "seq": 1, "center": "c1", "station": "s1",
        "producer": "P001", "ts": "2026-11-15T23:59:00.000-05:00", "liters": 24.5,
        "accepted": True, "solids_pct": 12.09, "milk_temp_c": 18, "flags": []}


def test_valid_delivery_point_is_idempotent_key():
    msg = decode_station_message("milk/v1/c1/s1/delivery", json.dumps(GOOD).encode())
    (point,) = points(msg)
    assert point.startswith("delivery,center=c1,producer=P001,station=s1 ")
    assert 'id="a1b2c3"' in point and "accepted=true" in point and "milk_temp_c=18.0" in point
    # Timestamp = the delivery's own time: 23:59 Lima is 04:59 UTC on the 16th.
    assert point.endswith(" 1794805140000000000")


@pytest.mark.parametrize("topic, payload, reason", [
    ("milk/v1/c1/s1/delivery", b"{not json", "not a JSON object"),
    ("milk/v1/c1/s1/delivery", b"[1, 2]", "object"),
    ("milk/v1/c1/s1/delivery", {**GOOD, "accepted": "yes"}, "accepted"),
    ("milk/v1/c1/s1/delivery", {**GOOD, "ts": "2026-11-15T23:59:00"}, "timezone"),
    ("milk/v1/c1/s1/delivery", {**GOOD, "liters": -2}, "liters"),
    ("milk/v1/c1/s1/delivery", {k: v for k, v in GOOD.items() if k != "id"}, "id"),
    ("milk/v1/c1/s1/delivery", {**GOOD, "solids_pct": None}, "solids_pct"),
    ("milk/v1/c2/s1/delivery", GOOD, "differ from the topic"),
    ("milk/v1/c1/s1/delivery", {**GOOD, "schema": "delivery/9"}, "schema"),
    ("milk/v1/c1/s1/tank", {"schema": "tank/1"}, "unknown topic"),
])
def test_malformed_payloads_are_refused_with_a_reason(topic, payload, reason):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(InvalidPayload, match=reason):
        decode_station_message(topic, raw)


def test_line_protocol_escaping():
    assert line("m", {"a b": "x,y=z"}, {"s": 'say "hi"\\', "f": 1.0, "i": 3, "b": False}, 5) == \
        'm,a\\ b=x\\,y\\=z s="say \\"hi\\"\\\\",f=1.0,i=3i,b=false 5'


@pytest.mark.servers
def test_bad_messages_become_dead_letters_and_service_keeps_going(servers, hub, unique):
    hub.start()
    wait_until(lambda: hub_connected(hub))
    station = servers.provision_station(unique, "s1")     # its login and key
    client = servers.mqtt_client(station)
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    topic = f"milk/v1/{unique}/s1/delivery"
    good = seal({**GOOD, "center": unique}, GENESIS, station.key)
    second = seal({**GOOD, "center": unique, "id": "b2", "seq": 2, "ts": "2026-11-15T23:58:00-05:00"},
                  good["hash"], station.key)
    infos = [client.publish(topic, b"\xff\xfe garbage", qos=1),
             client.publish(topic, json.dumps({**good, "liters": "many"}), qos=1),
             client.publish(topic, json.dumps(good), qos=1),
             client.publish(topic, json.dumps(second), qos=1)]
    for info in infos:
        info.wait_for_publish(5)
    stop_loop(client)
    client.disconnect()
    wait_until(lambda: stored(servers, hub.database) == 2, message="good ones stored")
    wait_until(lambda: hub_status(hub)["dead_letters"] == 2, message="bad ones counted")
    dead = [json.loads(x) for x in
            (Path(hub.config_path).parent / "hub-data" / "dead_letters.jsonl").read_text().splitlines()]
    assert [d["topic"] for d in dead] == [topic, topic]
    assert "liters" in dead[1]["reason"] and '"many"' in dead[1]["payload"]
    assert hub.proc.poll() is None   # still running


def test_hub_bad_config_is_one_line(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text((REPO / "examples" / "hub.toml").read_text().replace("batch_size", "batchsize"))
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES")}
    proc = subprocess.run([sys.executable, "-m", "hub", "ingest", "--config", str(path)],
                          capture_output=True, text=True, timeout=30, env={**env, "LANG": "es_PE.UTF-8"})
    assert proc.returncode == 2
    assert "[influx] batchsize: clave desconocida" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "hub", "ingest", "--config", str(path)],
                          capture_output=True, text=True, timeout=30, env={**env, "LANG": "en_US.UTF-8"})
    assert "[influx] batchsize: unknown key" in proc.stderr


def test_example_hub_config_loads():
    from hub.config import load_hub_config
    config = load_hub_config(REPO / "examples" / "hub.toml")
    assert config.influx.database == "milk" and config.mqtt.client_id == "milk-hub"
