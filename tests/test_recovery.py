"""Recovery by sequence number on the real servers (docs/recovery.md).

The broker's persistence is not a promise: killed -9 before its autosave,
Mosquitto comes back without what stations had handed over and without the
hub's session. The stations still hold every record; the hub compares what
it stored with what they announce and asks for the rest, which lands on the
same InfluxDB points. A reinstalled station (a new epoch) is not a gap, and
a hub that lost its index gets everything again without a duplicate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector_station.outbox.publisher import OutboxPublisher
from collector_station.outbox.store import Outbox
from devtools.fixtures import make_records, recent_morning
from devtools.servers import REPO, Servers, free_port
from hub.store.influx import InfluxError, InfluxV1
from milk_common.contract import HUB_STATUS_SUBSCRIPTION, station_topic

from .conftest import HubProcess, wait_until, write_hub_config
from milk_common.mqtt import stop_loop

LIMA = ZoneInfo("America/Lima")
KEY = b"fedcba9876543210fedcba9876543210"
pytestmark = pytest.mark.servers

# Quick to ask in tests; the defaults (20 s, 60 s) suit a real backlog.
RECOVERY = "[recovery]\nask_after_s = 1.0\nretry_s = 5.0\ntick_s = 0.2\n"


@pytest.fixture(scope="module")
def own_servers():
    """A broker (and InfluxDB) of this module's own, to kill -9 without
    disturbing the other tests' shared one."""
    run_dir = REPO / ".run" / f"recovery-{os.getpid()}"
    srv = Servers(run_dir, free_port(), free_port())
    srv.start()
    yield srv
    srv.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


def make_hub(srv, tmp_path: Path, name: str, extra: str = RECOVERY) -> HubProcess:
    config = write_hub_config(tmp_path / f"{name}.toml", mqtt_port=srv.mqtt_port,
                              influx_url=srv.influxdb.url, database=name,
                              client_id=f"hub-{name}", data_dir=tmp_path / f"{name}-data",
                              extra=extra)
    hub = HubProcess(config, tmp_path / f"{name}.log")
    hub.database = name
    hub.data_dir = tmp_path / f"{name}-data"
    return hub


def hub_status(hub) -> dict:
    try:
        return json.loads((hub.data_dir / "ingest-status.json").read_text())
    except (OSError, ValueError):
        return {}


def publisher_for(srv, outbox: Outbox, center: str, station: str) -> OutboxPublisher:
    access = srv.provision_station(center, station, key=KEY)
    return OutboxPublisher(outbox, center=center, station=station, host="127.0.0.1",
                           port=srv.mqtt_port, access=access, reconnect_max_s=0.5,
                           status_interval_s=5.0)


def record(outbox: Outbox, n: int, center: str, station: str, start: datetime, seed: int = 1):
    topic = station_topic(center, station, "delivery")
    return [outbox.record_delivery(r, topic, KEY)
            for r in make_records(n, center=center, station=station, start=start, seed=seed)]


def record_tank(outbox: Outbox, center: str, station: str, start: datetime, samples: int) -> None:
    for i in range(samples):
        ts = (start + timedelta(seconds=30 * i)).isoformat(timespec="milliseconds")
        for tank in ("t1", "t2"):
            outbox.add_tank_sample(tank, ts, 4.0 + (i % 7) / 10)
    outbox.batch_tank_samples(lambda tank: station_topic(center, station, "tank", tank),
                              {"center": center, "station": station}, 10, force=True)


def query(srv, database: str, q: str) -> list[dict]:
    try:
        return list(InfluxV1(srv.influxdb.url, database).query(q))
    except InfluxError as exc:
        if "database not found" in str(exc):
            return []
        raise


def ids_stored(srv, database: str) -> Counter:
    return Counter(r["id"] for r in query(srv, database, "SELECT id FROM delivery"))


def tank_points(srv, database: str) -> int:
    rows = query(srv, database, "SELECT COUNT(temp_c) FROM tank_temperature")
    return rows[0]["count"] if rows else 0


def gaps(hub) -> tuple[int, list[dict]]:
    # Only this test's center: the shared broker keeps other tests' retained statuses.
    out = subprocess.run([sys.executable, "-m", "hub", "gaps", "--config", str(hub.config_path),
                          "--json", "--center", hub.database], capture_output=True, text=True,
                         cwd=REPO)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()]


def test_broker_killed_before_autosave_loses_nothing(own_servers, tmp_path, unique):
    srv = own_servers
    # A fresh broker: its first autosave is 10 s away; all below happens before it.
    srv.mosquitto.kill()
    srv.mosquitto.start()
    hub = make_hub(srv, tmp_path, unique)
    hub.start()       # the hub's persistent session exists ...
    wait_until(lambda: hub_status(hub).get("connected"), message="hub connected")
    hub.stop()        # ... and the hub is away (maintenance)
    outbox = Outbox(tmp_path / "station.sqlite3")
    start = recent_morning(LIMA)
    sent = record(outbox, 300, unique, "s1", start)
    record_tank(outbox, unique, "s1", start, 50)
    publisher = publisher_for(srv, outbox, unique, "s1").start()
    try:
        began = time.monotonic()
        wait_until(lambda: outbox.backlog() == 0, timeout_s=20, message="all PUBACKed")
        assert publisher.published == 300 + 10
        assert time.monotonic() - began < 6, "too slow to beat the broker's autosave"
        srv.mosquitto.kill()          # a power cut at the office
        srv.mosquitto.start()
        hub.start()
        wait_until(lambda: len(ids_stored(srv, hub.database)) == 300 and
                   tank_points(srv, hub.database) == 100,
                   timeout_s=60, message="everything stored within a minute")
    finally:
        publisher.stop()
        hub.stop()
    stored = ids_stored(srv, hub.database)
    assert set(stored) == {d["id"] for d in sent}
    assert max(stored.values()) == 1, "a delivery stored twice"
    # It came back because the hub asked for it: the broker had lost it.
    assert hub_status(hub)["replay_requested"] >= 300
    assert publisher.replayed >= 300
    assert gaps(hub) == (0, [])


def test_new_epoch_is_not_a_gap_nor_a_reused_sequence(servers, tmp_path, unique):
    hub = make_hub(servers, tmp_path, unique)
    hub.start()
    wait_until(lambda: hub_status(hub).get("connected"), message="hub connected")
    start = recent_morning(LIMA)
    old = Outbox(tmp_path / "old" / "station.sqlite3")
    first = record(old, 20, unique, "s1", start)
    publisher = publisher_for(servers, old, unique, "s1").start()
    try:
        wait_until(lambda: len(ids_stored(servers, hub.database)) == 20, message="old stored")
    finally:
        publisher.stop()
    # The Pi is reinstalled: a new database counts from seq 1 in a new epoch.
    new = Outbox(tmp_path / "new" / "station.sqlite3")
    assert new.epoch != old.epoch
    second = record(new, 5, unique, "s1", start + timedelta(days=1), seed=2)
    assert [d["seq"] for d in second] == [1, 2, 3, 4, 5]
    publisher = publisher_for(servers, new, unique, "s1").start()
    try:
        wait_until(lambda: len(ids_stored(servers, hub.database)) == 25, message="new stored")
        time.sleep(2.5)       # longer than ask_after_s: a gap would be asked for by now
    finally:
        publisher.stop()
        hub.stop()
    stored = ids_stored(servers, hub.database)
    assert set(stored) == {d["id"] for d in first + second} and max(stored.values()) == 1
    assert hub_status(hub).get("replay_requested") == 0
    assert hub_status(hub).get("integrity_alerts") == 0
    assert gaps(hub) == (0, [])


def test_hub_with_an_empty_index_asks_and_gets_everything_once(servers, tmp_path, unique):
    hub = make_hub(servers, tmp_path, unique)
    hub.start()
    wait_until(lambda: hub_status(hub).get("connected"), message="hub connected")
    outbox = Outbox(tmp_path / "station.sqlite3")
    start = recent_morning(LIMA)
    sent = record(outbox, 80, unique, "s1", start)
    record_tank(outbox, unique, "s1", start, 30)
    publisher = publisher_for(servers, outbox, unique, "s1").start()
    try:
        wait_until(lambda: len(ids_stored(servers, hub.database)) == 80 and
                   tank_points(servers, hub.database) == 60, message="stored")
        hub.stop()
        # The hub is restored from a backup without its index.
        for name in ("recovery.sqlite3", "recovery.sqlite3-wal", "recovery.sqlite3-shm"):
            (hub.data_dir / name).unlink(missing_ok=True)
        before = publisher.replayed
        hub.start()
        wait_until(lambda: publisher.replayed - before >= 80 + 6, timeout_s=30,
                   message="the station re-sent what the hub asked for")
        wait_until(lambda: gaps(hub) == (0, []), timeout_s=30, message=f"index complete again: {gaps(hub)}")
    finally:
        publisher.stop()
        hub.stop()
    stored = ids_stored(servers, hub.database)
    assert set(stored) == {d["id"] for d in sent} and max(stored.values()) == 1
    assert tank_points(servers, hub.database) == 60
    assert hub_status(hub).get("integrity_alerts") == 0


def test_hub_liveness_online_then_offline_by_its_will(servers, tmp_path, unique):
    hub = make_hub(servers, tmp_path, unique, extra=RECOVERY)
    text = hub.config_path.read_text().replace("[mqtt]\n", "[mqtt]\nkeepalive_s = 5\n", 1)
    hub.config_path.write_text(text)
    seen: list[dict] = []
    got = threading.Event()

    def on_message(client, userdata, message):
        if message.topic.endswith(f"/hub-{unique}") and message.payload:
            seen.append(json.loads(message.payload))
            got.set()

    client = servers.mqtt_client(client_id=f"watch-{unique}")
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(HUB_STATUS_SUBSCRIPTION, qos=1)
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    try:
        hub.start()
        wait_until(lambda: seen and seen[-1]["status"] == "online", message="hub online")
        assert seen[-1]["schema"] == "hub_status/1" and seen[-1]["hub"] == f"hub-{unique}"
        hub.kill()            # no goodbye: the broker says it, after 1.5 keepalives
        wait_until(lambda: seen[-1]["status"] == "offline", timeout_s=20, message="will")
        hub.start()
        wait_until(lambda: seen[-1]["status"] == "online", message="online again")
        hub.stop()            # a clean stop says offline itself
        wait_until(lambda: seen[-1]["status"] == "offline", timeout_s=5, message="offline")
    finally:
        hub.stop()
        # Clear the retained message so no later test sees this hub.
        client.publish(f"milk/v1/hubs/hub-{unique}", b"", qos=1, retain=True).wait_for_publish(5)
        stop_loop(client)
        client.disconnect()
