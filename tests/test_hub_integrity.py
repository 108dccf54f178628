"""The hub's checks of delivery seals: forged signatures refused at ingest,
chain breaks alerted, and a point altered in InfluxDB found by `verify`."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hub.store.influx import InfluxV1, line, to_ns
from milk_common.integrity import GENESIS, seal

from .conftest import HubProcess, wait_until, write_hub_config
from .test_pipeline import hub_connected, hub_status, make_records, stored
from milk_common.mqtt import stop_loop

pytestmark = pytest.mark.servers
LIMA = ZoneInfo("America/Lima")
KEY_HEX = "a1" * 32
KEY = bytes.fromhex(KEY_HEX)


@pytest.fixture
def signed_hub(servers, tmp_path, unique):
    config = write_hub_config(tmp_path / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=tmp_path / "hub-data",
                              extra=f'[integrity]\nrequire_signature = true\n'
                                    f'[integrity.keys]\n"{unique}/s1" = "{KEY_HEX}"\n')
    process = HubProcess(config, tmp_path / "hub.log")
    process.database = unique
    process.start()
    wait_until(lambda: hub_connected(process))
    yield process
    process.stop()


def chain(records, key, start_seq=1, prev=GENESIS):
    out = []
    for i, r in enumerate(records):
        sealed = seal({"schema": "delivery/1", "id": f"id{start_seq + i}", "seq": start_seq + i,
                       "kind": "delivery", "refers_to": None, **r}, prev, key)
        prev = sealed["hash"]
        out.append(sealed)
    return out


def publish(servers, topic, payloads):
    """Publish as the topic's station (its broker login; its key is KEY)."""
    _, _, center, station, _ = topic.split("/", 4)
    client = servers.mqtt_client(servers.provision_station(center, station, key=KEY))
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    for p in payloads:
        client.publish(topic, json.dumps(p), qos=1).wait_for_publish(5)
    stop_loop(client)
    client.disconnect()


def test_forged_signature_refused_and_chain_break_alerted(servers, signed_hub, unique):
    start = datetime(2026, 11, 3, 6, 0, tzinfo=LIMA)
    records = list(make_records(3, center=unique, station="s1", start=start))
    good = chain(records, KEY)
    forged = chain(list(make_records(1, center=unique, station="s1", start=start + timedelta(hours=1),
                                     seed=9)), b"not the station's key!!", start_seq=4, prev=good[-1]["hash"])
    # A record 2 from another history: well signed, but it does not follow record 1.
    other2 = chain([records[1]], KEY, start_seq=2, prev="f" * 64)[0]
    other2["id"] = "other2"
    other2 = seal({k: v for k, v in other2.items() if k not in ("hash", "hmac", "receipt_code")},
                  "f" * 64, KEY)
    topic = f"milk/v1/{unique}/s1/delivery"
    publish(servers, topic, [good[0], good[2], forged[0]])
    wait_until(lambda: stored(servers, signed_hub.database) == 2, message="two good stored")
    wait_until(lambda: hub_status(signed_hub)["dead_letters"] == 1, message="forged refused")
    data = Path(signed_hub.config_path).parent / "hub-data"
    dead = [json.loads(x) for x in (data / "dead_letters.jsonl").read_text().splitlines()]
    assert "signature" in dead[0]["reason"] and json.loads(dead[0]["payload"])["seq"] == 4
    publish(servers, topic, [other2])
    wait_until(lambda: hub_status(signed_hub)["integrity_alerts"] >= 2, message="chain break alerted")
    findings = [json.loads(x) for x in (data / "integrity.jsonl").read_text().splitlines()]
    problems = {(f["seq"], f["problem"]) for f in findings}
    assert (4, "signature") in problems and (2, "chain") in problems


def test_unsigned_refused_when_signatures_required(servers, signed_hub, unique):
    start = datetime(2026, 11, 3, 6, 0, tzinfo=LIMA)
    record = {"schema": "delivery/1", "id": "u1", "seq": 1,
              **next(make_records(1, center=unique, station="s1", start=start))}
    publish(servers, f"milk/v1/{unique}/s1/delivery", [record])
    wait_until(lambda: hub_status(signed_hub)["dead_letters"] == 1)
    assert stored(servers, signed_hub.database) == 0


def test_verify_finds_a_point_altered_in_influxdb(servers, signed_hub, unique):
    start = datetime(2026, 11, 4, 6, 0, tzinfo=LIMA)
    good = chain(list(make_records(5, center=unique, station="s1", start=start)), KEY)
    publish(servers, f"milk/v1/{unique}/s1/delivery", good)
    wait_until(lambda: stored(servers, signed_hub.database) == 5)
    run = lambda: subprocess.run([sys.executable, "-m", "hub", "verify", "--period", "2026-11-1",  # noqa: E731
                                  "--config", str(signed_hub.config_path)],
                                 capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "LANG": "es_BO.UTF-8", "LC_ALL": ""})
    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "5 entregas revisadas, 0 problemas" in ok.stderr
    victim = good[2]
    # Someone with database access adds litres to delivery 3 (same point: tags + time).
    InfluxV1(servers.influxdb.url, signed_hub.database).write([line(
        "delivery", {"center": unique, "station": "s1", "producer": victim["producer"]},
        {"liters": victim["liters"] + 10.0}, to_ns(datetime.fromisoformat(victim["ts"])))])
    bad = run()
    assert bad.returncode == 1
    findings = [json.loads(x) for x in bad.stdout.splitlines()]
    assert [(f["seq"], f["problem"]) for f in findings] == [(3, "hash")]


def test_voids_and_corrections_in_the_statement_and_export(servers, signed_hub, unique, tmp_path):
    """A voided delivery is not paid; a corrected one is paid once, to the
    producer of the correction; both amendments are new sealed records."""
    import csv
    start = datetime(2026, 11, 5, 6, 0, tzinfo=LIMA)
    base = list(make_records(3, center=unique, station="s1", start=start, seed=11))
    for r, producer in zip(base, ("p001", "p002", "p003")):
        r["producer"] = producer
    amend = lambda r, kind, ref, minutes, **kw: {**r, "kind": kind, "refers_to": ref,  # noqa: E731
                                                 "ts": (start + timedelta(minutes=minutes)).isoformat(), **kw}
    records = chain(base, KEY)
    records += chain([amend(base[0], "void", "id1", 30, accepted=False, liters=0.0, weight_kg=None,
                            reject_reason="void")], KEY, start_seq=4, prev=records[-1]["hash"])
    records += chain([amend(base[1], "correction", "id2", 31, producer="p009")], KEY, start_seq=5,
                     prev=records[-1]["hash"])
    publish(servers, f"milk/v1/{unique}/s1/delivery", records)
    wait_until(lambda: stored(servers, signed_hub.database) == 5)
    pricing = Path(__file__).resolve().parent.parent / "examples" / "pricing.toml"
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "hub", "payments", "--period", "2026-11-1",
                          "--pricing", str(pricing), "--out", str(out), "--config",
                          str(signed_hub.config_path), "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = {r["producer"]: r for r in csv.DictReader((out / "statements.csv").open())}
    assert set(rows) == {"p003", "p009", "TOTAL"}
    assert rows["TOTAL"]["deliveries"] == "2"
    assert rows["p009"]["liters"] == f"{base[1]['liters']:.2f}"
