"""Secure by default, on the real broker: TLS only, no anonymous clients, a
station publishes only under its own topics, the hub refuses unsigned,
forged and revoked deliveries, and refuses to start knowing no station."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest

from devtools.fixtures import make_records
from devtools.security import try_login
from hub.security.broker import BrokerAccess, acl_text, hash_password, password_matches
from hub.security.keys import StationKeys
from hub.security.provision import provision_station, revoke_station
from hub.ingest.integrity import check_seal
from hub.config import HubIntegrity
from milk_common.integrity import GENESIS, seal
from milk_common.mqtt import MqttAccess

from .conftest import wait_until
from .test_pipeline import hub_connected, hub_status, stored
from milk_common.mqtt import stop_loop

REPO = Path(__file__).resolve().parent.parent
LIMA = ZoneInfo("America/Lima")


def sealed(center, station, key, n=1, *, start, seq=1, prev=GENESIS, seed=1):
    out = []
    for i, record in enumerate(make_records(n, center=center, station=station, start=start, seed=seed)):
        record = seal({"schema": "delivery/1", "id": f"{station}-{seq + i}", "seq": seq + i,
                       "kind": "delivery", "refers_to": None, **record}, prev, key)
        prev = record["hash"]
        out.append(record)
    return out


def publish_as(servers, access, topic, payloads, protocol=mqtt.MQTTv5):
    """Publish QoS 1 with `access`'s login; the PUBACK reason codes (v5)."""
    acks = []
    client = servers.mqtt_client(access, protocol=protocol)
    client.on_publish = lambda c, u, mid, rc, props: acks.append(str(rc))
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    try:
        for p in payloads:
            client.publish(topic, json.dumps(p), qos=1).wait_for_publish(10)
    finally:
        stop_loop(client)
        client.disconnect()
    return acks


def dead_letters(hub) -> list[dict]:
    path = Path(hub.config_path).parent / "hub-data" / "dead_letters.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


# -- pure parts -------------------------------------------------------------------

def test_password_hash_is_the_one_mosquitto_passwd_writes(tmp_path):
    path = tmp_path / "pw"
    path.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(path), "alice", "s3cret pass"], check=True)
    stored_hash = path.read_text().strip().split(":", 1)[1]
    assert password_matches("s3cret pass", stored_hash)
    assert not password_matches("s3cret pas", stored_hash)
    mine = hash_password("s3cret pass")
    assert mine.startswith("$7$101$") and password_matches("s3cret pass", mine)


def test_acl_keeps_each_station_under_its_own_topics():
    acl = acl_text({"c1.s1": "station", "milk-hub": "hub", "panel": "reader"})
    block = acl.split("user c1.s1\n")[1].split("\n\n")[0].splitlines()
    assert block == ["topic write milk/v1/c1/s1/#", "topic read milk/v1/c1/registry",
                     "topic read milk/v1/c1/s1/replay", "topic read milk/v1/hubs/+"]
    hub = acl.split("user milk-hub\n")[1].split("\n\n")[0].splitlines()
    assert "topic read milk/v1/#" in hub and "topic write milk/v1/+/+/replay" in hub
    assert not any(line.startswith("topic write") for line in acl.split("user panel\n")[1].splitlines())
    with pytest.raises(ValueError):
        acl_text({"nodot": "station"})


def test_revoked_key_refuses_records_sealed_after_the_revocation(tmp_path):
    keys_path = tmp_path / "keys.json"
    broker = BrokerAccess(tmp_path / "broker")
    access = provision_station(broker, keys_path, "c1", "s1", host="h", port=8883, ca_path="ca.crt")
    at = datetime(2026, 11, 10, 12, 0, tzinfo=LIMA)
    before, after = sealed("c1", "s1", access.key, 2, start=at - timedelta(minutes=1))
    keys = StationKeys(store=keys_path, recheck_s=0)
    settings = HubIntegrity()
    assert check_seal(before, settings, keys) is None and check_seal(after, settings, keys) is None
    revoke_station(broker, keys_path, "c1", "s1", now=at)
    assert check_seal(before, settings, keys) is None           # sealed before: an honest backlog
    finding = check_seal(after, settings, keys)
    assert finding is not None and finding.problem == "revoked"
    assert "c1.s1" not in broker.hashes() and "c1.s1" not in broker.acl_file.read_text()


def test_the_loopback_broker_config_is_the_production_one():
    """Same security directives in the shipped config and the one tests run."""
    def directives(text):
        keys = ("listener", "cafile", "certfile", "keyfile", "tls_version", "allow_anonymous",
                "password_file", "acl_file", "max_queued_messages", "per_listener_settings")
        return {line.split()[0]: line.split()[1:] for line in text.splitlines()
                if line.split() and line.split()[0] in keys}
    prod = directives((REPO / "deploy" / "mosquitto-milk.conf").read_text())
    dev = directives((REPO / "deploy" / "mosquitto.conf.in").read_text())
    assert prod.keys() == dev.keys()
    assert prod["allow_anonymous"] == dev["allow_anonymous"] == ["false"]
    assert prod["listener"] == ["8883"]
    assert [Path(v[0]).name for k, v in prod.items() if k.endswith("file")] == \
        [Path(v[0]).name for k, v in dev.items() if k.endswith("file")]


def test_config_names_a_bad_mqtt_key(tmp_path):
    from collector_station.config import load_station_config
    from milk_common.errors import UserError
    base = 'center = "c1"\nstation = "s1"\n[mqtt]\n'
    path = tmp_path / "station.toml"
    path.write_text(base + 'tls_cafile = "ca.crt"\n')
    with pytest.raises(UserError, match=r"\[mqtt\] tls_cafile: "):
        load_station_config(path)
    path.write_text(base + 'username = "c1.s1"\npassword = "x"\npassword_file = "/p"\n')
    with pytest.raises(UserError, match=r"mqtt: .*password_file"):
        load_station_config(path)


# -- the real broker ------------------------------------------------------------

@pytest.mark.servers
def test_anonymous_plaintext_and_wrong_password_are_refused(servers, unique):
    ca = str(servers.security.ca_file)
    assert try_login(servers.mqtt_port, MqttAccess(tls_ca=ca)) is False               # anonymous
    station = servers.provision_station(unique, "s1")
    assert try_login(servers.mqtt_port, station) is True
    assert try_login(servers.mqtt_port, MqttAccess(username=station.username, password="guess",
                                                   tls_ca=ca)) is False
    # Without TLS the broker never answers MQTT at all.
    plain = MqttAccess(username=station.username, password=station.password)
    assert not try_login(servers.mqtt_port, plain, timeout_s=2)


@pytest.mark.servers
def test_station_cannot_publish_under_another_station(servers, hub, unique):
    """s1 has s2's key but not its login: the broker drops what s1 publishes
    on s2's topic (MQTT v5: PUBACK 'Not authorized'; v3.1.1: dropped too),
    and nothing of it reaches any subscriber or InfluxDB."""
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    s1 = servers.provision_station(unique, "s1")
    s2 = servers.provision_station(unique, "s2")
    seen = []
    watcher = servers.mqtt_client()
    watcher.on_message = lambda c, u, m: seen.append(m.topic)
    watcher.on_subscribe = lambda *a: seen.append("subscribed")
    watcher.on_connect = lambda c, *a: c.subscribe(f"milk/v1/{unique}/#", qos=1)
    watcher.connect("127.0.0.1", servers.mqtt_port)
    watcher.loop_start()
    try:
        wait_until(lambda: "subscribed" in seen)
        start = datetime(2026, 11, 6, 6, 0, tzinfo=LIMA)
        forged = sealed(unique, "s2", s2.key, 2, start=start)
        topic = f"milk/v1/{unique}/s2/delivery"
        acks = publish_as(servers, s1, topic, forged[:1])
        assert acks == ["Not authorized"]
        publish_as(servers, s1, topic, forged[1:], protocol=mqtt.MQTTv311)
        # The rightful station afterwards: its delivery arrives, so the
        # forged ones had every chance to arrive first.
        good = sealed(unique, "s2", s2.key, 1, start=start + timedelta(hours=1), seed=5)
        assert publish_as(servers, s2, topic, good) == ["Success"]
        wait_until(lambda: stored(servers, hub.database) == 1, message="the rightful one stored")
        time.sleep(0.5)
    finally:
        stop_loop(watcher)
        watcher.disconnect()
    assert [t for t in seen if t != "subscribed"] == [topic]
    assert stored(servers, hub.database) == 1


@pytest.mark.servers
def test_unsigned_and_forged_deliveries_are_dead_lettered_not_stored(servers, hub, unique):
    """The hub's default (no switch in its config) requires signatures."""
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    station = servers.provision_station(unique, "s1")
    start = datetime(2026, 11, 7, 6, 0, tzinfo=LIMA)
    unsigned = {"schema": "delivery/1", "id": "u1", "seq": 1,
                **next(make_records(1, center=unique, station="s1", start=start))}
    forged = sealed(unique, "s1", b"somebody else's key!!", 1, start=start, seq=2)[0]
    good = sealed(unique, "s1", station.key, 1, start=start, seq=3, seed=7)[0]
    publish_as(servers, station, f"milk/v1/{unique}/s1/delivery", [unsigned, forged, good])
    wait_until(lambda: stored(servers, hub.database) == 1, message="the signed one stored")
    wait_until(lambda: hub_status(hub)["dead_letters"] == 2, message="two refused")
    reasons = [d["reason"] for d in dead_letters(hub)]
    assert "seal" in reasons[0] and "signature" in reasons[1]


@pytest.mark.servers
def test_revoked_station_is_refused_by_broker_and_hub(servers, hub, unique, tmp_path):
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    station = servers.provision_station(unique, "s1")
    topic = f"milk/v1/{unique}/s1/delivery"
    revoked_at = datetime(2026, 11, 8, 12, 0, tzinfo=LIMA)
    before, after = sealed(unique, "s1", station.key, 2, start=revoked_at - timedelta(minutes=1))
    # The hub learns of the revocation first (the broker still lets the Pi in,
    # as when the broker's reload failed): what was sealed after is refused,
    # the honest backlog sealed before is stored.
    revoke_station(BrokerAccess(tmp_path / "elsewhere"), servers.keys_path, unique, "s1", now=revoked_at)
    time.sleep(1.2)     # the hub re-reads its key store at most once a second
    publish_as(servers, station, topic, [before, after])
    wait_until(lambda: stored(servers, hub.database) == 1, message="the earlier one stored")
    wait_until(lambda: hub_status(hub)["dead_letters"] == 1, message="the later one refused")
    assert "revoked" in dead_letters(hub)[0]["reason"]
    assert json.loads(dead_letters(hub)[0]["payload"])["id"] == after["id"]
    # Then the broker: the same station can no longer log in.
    servers.revoke_station(unique, "s1")
    assert try_login(servers.mqtt_port, station) is False


def test_hub_without_station_keys_refuses_to_start(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[mqtt]\nport = 1\n')
    run = subprocess.run([sys.executable, "-m", "hub", "ingest", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "ninguna clave de estación" in run.stderr and "require_signature = false" in run.stderr


def test_provision_commands(tmp_path):
    """ca, station and revoke through `milk-hub provision`, on a scratch folder."""
    broker_dir = tmp_path / "broker"
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[mqtt]\nhost = "hub.lan"\nport = 8883\n'
                      f'[broker]\ndir = "{broker_dir}"\npid_file = ""\nreload_command = "true"\n'
                      f'station_ca_path = "/etc/collector-station/milk-ca.crt"\n')

    def hub_cli(*args):
        return subprocess.run([sys.executable, "-m", "hub", "provision", *args, "--config", str(config)],
                              capture_output=True, text=True, timeout=60)

    early = hub_cli("station", "c1/s1")
    assert early.returncode == 2 and "provision ca" in early.stderr
    ca = hub_cli("ca", "--host", "hub.lan", "--host", "192.168.1.10")
    assert ca.returncode == 0, ca.stderr
    from hub.security.pki import certificate_names
    assert {"hub.lan", "192.168.1.10", "127.0.0.1", "localhost"} <= set(certificate_names(broker_dir / "server.crt"))
    assert 'username = "milk-hub"' in ca.stdout
    out = tmp_path / "s1.toml"
    made = hub_cli("station", "c1/s1", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    fragment = out.read_text()
    assert 'host = "hub.lan"' in fragment and "port = 8883" in fragment
    assert 'tls_ca = "/etc/collector-station/milk-ca.crt"' in fragment and 'username = "c1.s1"' in fragment
    # The fragment is valid station config as it stands.
    import tomllib
    from collector_station.config import IntegrityConfig, MqttConfig
    data = tomllib.loads(fragment)
    mqtt_section = MqttConfig.model_validate(data["mqtt"])
    integrity = IntegrityConfig.model_validate(data["integrity"])
    password = mqtt_section.password
    assert mqtt_section.username == "c1.s1" and integrity.hmac_key
    assert password_matches(password, BrokerAccess(broker_dir).hashes()["c1.s1"])
    store = json.loads((tmp_path / "data" / "station-keys.json").read_text())["stations"]
    assert store["c1/s1"]["key"] == integrity.hmac_key and store["c1/s1"]["revoked_at"] is None
    again = hub_cli("station", "c1/s1")
    assert again.returncode == 2 and "--force" in again.stderr
    assert hub_cli("station", "C1/s 1").returncode == 2
    gone = hub_cli("revoke", "c1/s1")
    assert gone.returncode == 0, gone.stderr
    assert "c1.s1" not in BrokerAccess(broker_dir).hashes()
    assert "user c1.s1" not in (broker_dir / "acl").read_text()
    store = json.loads((tmp_path / "data" / "station-keys.json").read_text())["stations"]
    assert store["c1/s1"]["revoked_at"] is not None
    assert hub_cli("revoke", "c9/s9").returncode == 2
    panel = hub_cli("reader", "panel")
    assert panel.returncode == 0, panel.stderr
    assert BrokerAccess(broker_dir).users()["panel"] == "reader" and 'username = "panel"' in panel.stdout
    assert hub_cli("reader", "milk-hub").returncode == 2          # not the hub's own login
    assert hub_cli("revoke", "panel").returncode == 0 and "panel" not in BrokerAccess(broker_dir).users()


def test_missing_ca_or_password_file_is_one_line_at_start(tmp_path):
    config = tmp_path / "hub.toml"
    base = f'data_dir = "{tmp_path / "data"}"\n[integrity]\nrequire_signature = false\n[mqtt]\nport = 1\n'
    for extra, named in ((f'tls_ca = "{tmp_path / "nope.crt"}"\n', "[mqtt] tls_ca: no existe"),
                         (f'username = "milk-hub"\npassword_file = "{tmp_path / "nope"}"\n',
                          "[mqtt] password_file")):
        config.write_text(base + extra)
        run = subprocess.run([sys.executable, "-m", "hub", "ingest", "--config", str(config)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and named in run.stderr and "Traceback" not in run.stderr
