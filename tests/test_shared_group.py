"""Two `milk-hub ingest` processes sharing one subscription (`[mqtt] shared_group`):
each delivery reaches one of them and is stored once, both take part, and
the chain check still sees across them (docs/scaling.md)."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.store.influx import InfluxV1
from milk_common.contract import hub_subscriptions
from devtools.fixtures import recent_morning
from milk_common.integrity import GENESIS, seal

from .conftest import REPO, wait_until, write_hub_config
from .test_pipeline import make_records
from milk_common.mqtt import stop_loop

pytestmark = pytest.mark.servers
LIMA = ZoneInfo("America/Lima")
KEY = bytes.fromhex("b2" * 32)


def test_shared_subscriptions_only_for_the_shared_kinds():
    subs = hub_subscriptions("g1")
    assert "$share/g1/milk/v1/+/+/delivery" in subs
    assert "$share/g1/milk/v1/+/+/tank/+" in subs
    # Retained status never reaches a shared subscription (Mosquitto), and the
    # alert engine's hub must see every cold-chain change.
    assert "milk/v1/+/+/status" in subs and "milk/v1/+/+/coldchain" in subs
    assert hub_subscriptions(None) == hub_subscriptions("")
    assert not any(s.startswith("$share") for s in hub_subscriptions(None))


def sealed_chain(records, start_seq=1, prev=GENESIS):
    out = []
    for i, r in enumerate(records):
        record = seal({"schema": "delivery/1", "id": f"d{start_seq + i:05d}", "seq": start_seq + i,
                       "kind": "delivery", "refers_to": None, **r}, prev, KEY)
        prev = record["hash"]
        out.append(record)
    return out


def status_of(data: Path, client_id: str) -> dict:
    try:
        return json.loads((data / f"ingest-status-{client_id}.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.fixture
def two_hubs(servers, tmp_path, unique):
    """Two hubs, one config and one data folder, each with its own client id."""
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data",
                              batch_size=40)
    text = config.read_text()
    config.write_text(text.replace(f'client_id = "hub-{unique}"\n',
                                   f'client_id = "hub-{unique}"\nshared_group = "g{unique}"\n'
                                   f'receive_maximum = 80\n', 1))
    ids = [f"hub-{unique}-1", f"hub-{unique}-2"]
    procs = []
    for client_id in ids:
        log = open(tmp_path / f"{client_id}.log", "ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "hub", "ingest", "--config", str(config),
                                       "--client-id", client_id], stdout=log, stderr=log, cwd=REPO))
    data = tmp_path / "hub-data"
    try:
        for client_id in ids:
            wait_until(lambda: status_of(data, client_id).get("connected"), message=f"{client_id} connected")
        yield data, ids
    finally:
        for proc in procs:
            proc.terminate()
        slow = []
        for proc, client_id in zip(procs, ids):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                slow.append((tmp_path / f"{client_id}.log").read_text()[-2000:])
        assert not slow, f"a hub did not stop within 30 s: {slow}"


def test_two_hubs_store_each_delivery_once_and_keep_the_chain(servers, two_hubs, unique):
    data, ids = two_hubs
    n, removed = 240, 120
    start = recent_morning(LIMA)
    chain = sealed_chain(list(make_records(n, center=unique, station="s1", start=start)))
    # Record `removed` taken out at the station and another one sealed in its
    # place (the key at hand): it follows its predecessor, but its successor,
    # sealed before, does not follow it.
    replacement = seal({**chain[removed - 1], "id": "forged", "ts": (start + timedelta(
        minutes=removed - 1, seconds=30)).isoformat(), "liters": 99.0},
        chain[removed - 2]["hash"], KEY)
    sent = chain[:removed - 1] + chain[removed:]
    client = servers.mqtt_client(servers.provision_station(unique, "s1", key=KEY))
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    topic = f"milk/v1/{unique}/s1/delivery"
    try:
        for p in [client.publish(topic, json.dumps(r), qos=1) for r in sent]:
            p.wait_for_publish(10)
        influx = InfluxV1(servers.influxdb.url, unique)

        def ids_stored() -> list[str]:
            return [row["id"] for row in influx.query("SELECT id FROM delivery")]
        wait_until(lambda: len(ids_stored()) == n - 1, timeout_s=60, message="all stored")
        client.publish(topic, json.dumps(replacement), qos=1).wait_for_publish(10)
        wait_until(lambda: len(ids_stored()) == n, timeout_s=30, message="replacement stored")
    finally:
        stop_loop(client)
        client.disconnect()
    stored_ids = ids_stored()
    assert sorted(stored_ids) == sorted([r["id"] for r in sent] + ["forged"])   # each once
    # Each message went to one hub only, and both took part.
    # (stored_messages also counts the retained statuses, which every hub gets)
    wait_until(lambda: sum(status_of(data, c).get("stored_deliveries", 0) for c in ids) >= n,
               message="status files count every delivery")
    per_hub = [status_of(data, c)["stored_deliveries"] for c in ids]
    assert sum(per_hub) == n and min(per_hub) > 0, (per_hub, [status_of(data, c) for c in ids])
    assert all(status_of(data, c)["dead_letters"] == 0 for c in ids)

    def findings():
        path = data / "integrity.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    wait_until(lambda: any(f["problem"] == "chain" for f in findings()), message="chain break found")
    assert {(f["seq"], f["problem"]) for f in findings()} == {(removed, "chain")}
    # The recovery index, shared too, saw every sequence number from either hub.
    from hub.recovery.index import gap_report
    wait_until(lambda: [r for r in gap_report(data / "recovery.sqlite3") if r["center"] == unique] == [],
               message="no gap left in the shared recovery index")


def test_the_dashboard_sums_the_group_status_files(tmp_path):
    from hub.web.queries import ingest_status
    assert ingest_status(tmp_path) is None
    (tmp_path / "ingest-status-hub-1.json").write_text(json.dumps(
        {"connected": False, "stored_messages": 5, "backlog": 1, "last_error": None, "last_error_at": None}))
    (tmp_path / "ingest-status-hub-2.json").write_text(json.dumps(
        {"connected": True, "stored_messages": 7, "backlog": 0, "last_error": "boom",
         "last_error_at": "2026-11-27T10:00:00+00:00"}))
    total = ingest_status(tmp_path)
    assert total["connected"] is True and total["stored_messages"] == 12 and total["backlog"] == 1
    assert total["last_error"] == "boom"


def test_one_hub_of_the_group_runs_the_alerts(tmp_path):
    """The alert engine's lock, the shared 'last heard' times and the tail of
    the shared findings file (hub/alerts/group.py)."""
    from hub.alerts.group import FindingsTail, Leadership, SeenRecorder
    from hub.alerts.store import AlertStore
    first, second = Leadership(tmp_path / "alerts.lock"), Leadership(tmp_path / "alerts.lock")
    assert first.try_take() and first.try_take()
    assert not second.try_take()                 # the other hub stands by
    first.release()
    assert second.try_take()                     # ... and takes over when the first stops
    second.release()

    store = AlertStore(tmp_path / "alerts.sqlite3")
    seen = SeenRecorder(store, LIMA, every_s=3600)
    seen("milk/v1/c1/s1/delivery", b"{}")
    seen("milk/v1/c1/s2/status", b"{}")          # a will saying offline is no sign of life
    first_time = store.stations()
    assert [(c, s) for c, s, _ in first_time] == [("c1", "s1")]
    seen("milk/v1/c1/s1/tank/t1", b"{}")         # within every_s: no write
    assert store.stations() == first_time

    path = tmp_path / "integrity.jsonl"
    path.write_text('{"seq": 1}\n')
    tail = FindingsTail(path)                    # starts at the end: the old line is not new
    with path.open("a") as fh:
        fh.write('{"seq": 2}\n{"seq": ')         # the last line is still being written
    assert tail.new() == [{"seq": 2}]
    with path.open("a") as fh:
        fh.write('3}\n')
    assert tail.new() == [{"seq": 3}] and tail.new() == []


def test_client_id_option_is_checked_like_the_file():
    from hub.config import HubConfig, with_client_id
    from milk_common.errors import UserError
    assert with_client_id(HubConfig(), "milk-hub-2").mqtt.client_id == "milk-hub-2"
    with pytest.raises(UserError, match="--client-id: client_id"):
        with_client_id(HubConfig(), "x" * 80)
