"""A delivery is placed and identified by its seal: a station's broker login
(or even its key) cannot get one delivery paid twice.

Each attack goes through the real broker and a `milk-hub ingest` process, as
an attacker holding a station's login would send it; `verify` then finds
copies written straight into InfluxDB."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devtools.fixtures import recent_morning
from hub.payments.periods import period_of
from hub.store.influx import InfluxV1, line
from milk_common.integrity import GENESIS, SEAL_2, seal, ts_ms

from .conftest import wait_until
from .test_hub_integrity import KEY, publish, signed_hub  # noqa: F401  (fixture)
from .test_pipeline import hub_status, make_records, stored

pytestmark = pytest.mark.servers
LIMA = ZoneInfo("America/Lima")
EPOCH = "0123456789abcdef"
PRICING = Path(__file__).resolve().parent.parent / "examples" / "pricing.toml"


def sealed_chain(records, start_seq=1, prev=GENESIS):
    out = []
    for i, r in enumerate(records):
        record = seal({"schema": "delivery/1", "id": f"d{start_seq + i:04d}x", "seq": start_seq + i,
                       "kind": "delivery", "refers_to": None, "epoch": EPOCH, "seal": SEAL_2,
                       "operator": "ana", **r}, prev, KEY)
        prev = record["hash"]
        out.append(record)
    return out


def data_dir(hub) -> Path:
    return Path(hub.config_path).parent / "hub-data"


def findings(hub) -> list[dict]:
    path = data_dir(hub) / "integrity.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def dead_letters(hub) -> list[dict]:
    path = data_dir(hub) / "dead_letters.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def points_of(servers, hub, ident: str) -> list[dict]:
    return list(InfluxV1(servers.influxdb.url, hub.database).query(
        f"SELECT id, liters FROM delivery WHERE id = '{ident}'"))


def micro_moved(record: dict, micros: int) -> dict:
    ts = datetime.fromisoformat(record["ts"]) + timedelta(microseconds=micros)
    return {**record, "ts": ts.isoformat()}


def test_copies_moved_by_microseconds_are_refused_and_never_a_new_point(servers, signed_hub, unique):
    start = recent_morning(LIMA)
    original = sealed_chain(list(make_records(1, center=unique, station="s1", start=start)))[0]
    copies = [micro_moved(original, m) for m in (1, 17, 999)]
    # The seal still matches each copy (ts_ms floors to the millisecond):
    # only the hub's rule that a point is placed by its sealed time stops them.
    assert all(ts_ms(c["ts"]) == ts_ms(original["ts"]) for c in copies)
    renoted = {**original, "note": "otra nota", "flags": ["x"]}   # unsealed keys only, same time
    topic = f"milk/v1/{unique}/s1/delivery"
    publish(servers, topic, [original, *copies, renoted])
    wait_until(lambda: hub_status(signed_hub)["dead_letters"] == 3, message="three copies refused")
    wait_until(lambda: hub_status(signed_hub)["stored_deliveries"] == 2, message="original and renoted")
    assert len(points_of(servers, signed_hub, original["id"])) == 1
    assert stored(servers, signed_hub.database) == 1
    problems = [f["problem"] for f in findings(signed_hub) if f["id"] == original["id"]]
    assert problems.count("ts_mismatch") == 3
    assert all("integrity" in d["reason"] for d in dead_letters(signed_hub))


def test_a_stamp_moved_into_another_fortnight_is_refused(servers, signed_hub, unique):
    start = recent_morning(LIMA)
    original = sealed_chain(list(make_records(1, center=unique, station="s1", start=start)))[0]
    moved_ts = datetime.fromisoformat(original["ts"]) - timedelta(days=16)
    moved = {**original, "ts_ms": ts_ms(original["ts"]), "ts": moved_ts.isoformat(timespec="milliseconds")}
    assert period_of(moved_ts, LIMA) != period_of(datetime.fromisoformat(original["ts"]), LIMA)
    topic = f"milk/v1/{unique}/s1/delivery"
    publish(servers, topic, [moved])
    wait_until(lambda: hub_status(signed_hub)["dead_letters"] == 1, message="moved stamp refused")
    assert stored(servers, signed_hub.database) == 0
    assert [f["problem"] for f in findings(signed_hub)] == ["ts_ms_key"]
    # A ts_ms key that is its own ts is harmless: stored once, at that time.
    publish(servers, topic, [{**original, "ts_ms": ts_ms(original["ts"])}, original])
    wait_until(lambda: hub_status(signed_hub)["stored_deliveries"] == 2, message="both sends handled")
    rows = list(InfluxV1(servers.influxdb.url, signed_hub.database).query("SELECT id, liters FROM delivery"))
    assert [(r["id"], r["time"]) for r in rows] == [(original["id"], ts_ms(original["ts"]) * 1_000_000)]


def test_an_id_reused_with_the_stations_key_is_refused(servers, signed_hub, unique):
    start = recent_morning(LIMA)
    first, second = sealed_chain(list(make_records(2, center=unique, station="s1", start=start)))
    # The next record of the chain, signed with the station's key, chain
    # intact, but it reuses the first delivery's id with other litres.
    reused = seal({**{k: v for k, v in first.items() if k not in ("prev_hash", "hash", "hmac", "receipt_code")},
                   "seq": 3, "liters": first["liters"] * 3, "ts": (start + timedelta(minutes=30)).isoformat()},
                  second["hash"], KEY)
    topic = f"milk/v1/{unique}/s1/delivery"
    publish(servers, topic, [first, second, reused])
    wait_until(lambda: hub_status(signed_hub)["dead_letters"] == 1, message="reused id refused")
    wait_until(lambda: stored(servers, signed_hub.database) == 2, message="the two good stored")
    assert [p["liters"] for p in points_of(servers, signed_hub, first["id"])] == [first["liters"]]
    assert [(f["seq"], f["problem"]) for f in findings(signed_hub)] == [(3, "id_reused")]
    assert json.loads(dead_letters(signed_hub)[0]["payload"])["seq"] == 3
    # An unchanged re-send of the first stays harmless: no finding, no new point.
    publish(servers, topic, [first])
    wait_until(lambda: hub_status(signed_hub)["stored_deliveries"] == 3, message="re-send handled")
    assert len(points_of(servers, signed_hub, first["id"])) == 1
    assert len(findings(signed_hub)) == 1


def run_verify(hub, period, *extra):
    return subprocess.run([sys.executable, "-m", "hub", "verify", "--period", str(period),
                           "--config", str(hub.config_path), *extra],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LANG": "es_BO.UTF-8", "LC_ALL": ""})


def test_verify_finds_copies_and_moved_stamps_written_straight_into_influxdb(servers, signed_hub, unique):
    start = recent_morning(LIMA, days_ago=2)
    period = period_of(start, LIMA)
    good = sealed_chain(list(make_records(3, center=unique, station="s1", start=start)))
    publish(servers, f"milk/v1/{unique}/s1/delivery", good)
    wait_until(lambda: stored(servers, signed_hub.database) == 3, message="three stored")
    ok = run_verify(signed_hub, period)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 entregas revisadas, 0 problemas" in ok.stderr

    victim = good[1]
    t_ns = ts_ms(victim["ts"]) * 1_000_000
    fields = {k: victim[k] for k in ("id", "seq", "liters", "solids_pct", "fat_pct", "milk_temp_c",
                                     "weight_kg", "accepted", "kind", "prev_hash", "hash", "hmac",
                                     "epoch", "operator", "seal")}
    tags = {"center": unique, "station": "s1", "producer": victim["producer"]}
    influx = InfluxV1(servers.influxdb.url, signed_hub.database)
    # Someone with database access writes two copies: 5 µs later, and an hour earlier.
    influx.write([line("delivery", tags, fields, t_ns + 5_000),
                  line("delivery", tags, fields, t_ns - 3_600_000_000_000)])
    bad = run_verify(signed_hub, period, "--pricing", str(PRICING))
    assert bad.returncode == 1
    found = [json.loads(x) for x in bad.stdout.splitlines()]
    problems = sorted((f["id"], f["problem"]) for f in found)
    assert problems == sorted([(victim["id"], "time_not_sealed"), (victim["id"], "hash"),
                               (victim["id"], "duplicate_id"), (victim["id"], "duplicate_id")])
    duplicates = [f for f in found if f["problem"] == "duplicate_id"]
    # The sound point (sealed time, matching hash) is the one kept: both copies are the extras.
    assert {f["time"] for f in duplicates} == {
        f["time"] for f in found if f["problem"] in ("time_not_sealed", "hash")}
    assert all(f["value"] == duplicates[0]["value"] and Decimal(f["value"]) > 0 for f in duplicates)
    at_stake = 2 * Decimal(duplicates[0]["value"])
    assert f"{at_stake} " in bad.stderr and "pagado de más" in bad.stderr
