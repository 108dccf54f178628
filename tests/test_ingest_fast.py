"""The ingest's fast paths give what the reference code gives: the seal's
hash from the raw payload, the delivery's line protocol, the batch chain
check (hub/ingest/sealfields.py, hub/store/points.py, hub/ingest/chain.py)."""

import json
import random
import sqlite3
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.ingest.chain import IDS_TABLE, check_links
from hub.ingest.integrity import ChainWatch
from hub.ingest.sealfields import seal_hash, seal_record
from hub.store.influx import line, to_ns
from hub.store.points import delivery_line, points
from milk_common.contract import decode_station_message
from milk_common.integrity import GENESIS, record_hash, seal

ODD_TEXT = ["", "a\"b", "back\\slash", "tab\tnew\nline", "ñandú", "€ 5", "\u2028", "\x7f", "\x01",
            "emoji 🐄", "comma,eq=space "]


def random_record(rng: random.Random, i: int) -> dict:
    """A delivery record with odd but valid values (what a station might send)."""
    ts = datetime(2026, 11, 1, 5, tzinfo=ZoneInfo("America/Lima")) + timedelta(
        seconds=rng.randrange(10 ** 6), microseconds=rng.randrange(10 ** 6))
    accepted = rng.random() < 0.8
    record = {"schema": "delivery/1", "id": f"id-{i}.{rng.randrange(10 ** 6)}", "seq": i + 1,
              "center": "c1", "station": rng.choice(["s1", "s_2", "s-3"]),
              "producer": rng.choice(["p001", "P_9", "x-1"]),
              "ts": ts.isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"])),
              "liters": rng.choice([0, 15, 25.7, 12.030, 1e-05, 99999.99]), "accepted": accepted}
    for key in ("solids_pct", "snf_pct", "fat_pct"):
        if accepted or rng.random() < 0.5:
            record[key] = rng.choice([0, 12, 12.03, 3.5, 100])
    for key, values in {"milk_temp_c": [15, -2.5, 4.0, None], "weight_kg": [26.49, 30, None],
                        "density_15c": [1.03074, None], "acidity_dornic": [16.5, None]}.items():
        value = rng.choice(values)
        if value is not None or rng.random() < 0.3:
            record[key] = value
    if rng.random() < 0.5:
        record["kind"] = rng.choice(["delivery", "void", "correction"])
        if record["kind"] != "delivery":
            record["refers_to"] = f"id-{rng.randrange(100)}"
    for key in ("reject_reason", "note", "operator", "fat_source"):
        if rng.random() < 0.4:
            record[key] = rng.choice(ODD_TEXT)
    if rng.random() < 0.3:
        record["flags"] = rng.sample(["low_fat", "warm", 'q"uote', "ñ"], rng.randrange(1, 3))
    if rng.random() < 0.2:
        record["ts_ms"] = rng.randrange(10 ** 12, 2 * 10 ** 12)     # the spec: ts_ms wins over ts
    if rng.random() < 0.3:
        record["epoch"] = "abcdef0123456789"
    return record


@pytest.mark.parametrize("seed", range(5))
def test_seal_hash_of_the_raw_payload_is_the_reference_hash(seed):
    rng = random.Random(seed)
    for i in range(300):
        record = seal(random_record(rng, i), GENESIS if rng.random() < 0.1 else "ab" * 32, b"k" * 32)
        payload = json.dumps(record, ensure_ascii=rng.random() < 0.5).encode()
        reference = record_hash(json.loads(payload))
        assert seal_hash(seal_record(payload)) == reference == record["hash"]
        assert seal_hash(json.loads(payload)) == reference


def test_seal_hash_missing_and_null_values():
    for record in ({}, {"kind": None}, {"ts": None}, {"reject_reason": ""}, {"seq": "7"},
                   {"liters": "12.5", "accepted": 1}, {"ts_ms": 5, "ts": "2026-11-01T00:00:00+00:00"}):
        assert seal_hash(record) == record_hash(record)


def reference_line(m) -> str:
    """The delivery's point written with the generic line(), as before."""
    return line("delivery", {"center": m.center, "station": m.station, "producer": m.producer}, {
        "id": m.id, "seq": m.seq, "liters": m.liters,
        "solids_pct": m.solids_pct, "snf_pct": m.snf_pct, "fat_pct": m.fat_pct,
        "milk_temp_c": m.milk_temp_c, "weight_kg": m.weight_kg,
        "density_15c": m.density_15c, "accepted": m.accepted,
        "fat_source": m.fat_source, "reject_reason": m.reject_reason,
        "flags": ",".join(m.flags) if m.flags else None, "operator": m.operator or None,
        "kind": m.kind, "refers_to": m.refers_to,
        "prev_hash": m.prev_hash, "hash": m.hash, "hmac": m.hmac, "receipt_code": m.receipt_code,
        "alcohol_test": m.alcohol_test, "organoleptic": m.organoleptic,
        "acidity_dornic": m.acidity_dornic, "note": m.note or None, "epoch": m.epoch,
    }, to_ns(m.ts))


@pytest.mark.parametrize("seed", range(3))
def test_delivery_line_is_the_generic_line(seed):
    rng = random.Random(100 + seed)
    for i in range(300):
        record = random_record(rng, i)
        record.pop("ts_ms", None)
        if rng.random() < 0.5:
            record = seal(record, GENESIS, b"k" * 32)
        if rng.random() < 0.3:
            record.update(alcohol_test="fail", organoleptic="ok")
        m = decode_station_message(f"milk/v1/c1/{record['station']}/delivery", json.dumps(record).encode())
        assert delivery_line(m) == reference_line(m)
        assert points(m) == [delivery_line(m)]


def chain_of(n: int, station: str = "s1", epoch: str | None = None) -> list[dict]:
    out, prev = [], GENESIS
    for i in range(n):
        record = {"id": f"{station}-{i}", "seq": i + 1, "center": "c1", "station": station,
                  "ts": datetime(2026, 11, 2, tzinfo=timezone.utc).isoformat(), "liters": 10.0 + i,
                  "accepted": True, "solids_pct": 12.0}
        if epoch:
            record["epoch"] = epoch
        record = seal(record, prev, b"k" * 32)
        prev = record["hash"]
        out.append(record)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_batch_chain_check_finds_what_one_by_one_finds(tmp_path, seed):
    """Shuffled, repeated, forged and removed records, checked in random
    batches, give the findings of checking them one at a time."""
    rng = random.Random(seed)
    a, b = chain_of(30), chain_of(12, station="s2", epoch="e" * 16)
    stream = a + b + rng.sample(a, 5)                           # re-sends
    stream = [r for r in stream if r is not a[17]]              # removed at the station ...
    forged = seal({**a[17], "id": "other", "liters": 99.0}, a[16]["hash"], b"k" * 32)
    stream.append(forged)                                        # ... and another in its place
    stream.append(dict(a[3], hash="f" * 64))                     # a different record, same seq
    rng.shuffle(stream)
    one = ChainWatch(tmp_path / "one.sqlite3")
    expected = [f for r in stream for f in one.observe_batch([r])]   # one transaction each
    db = sqlite3.connect(tmp_path / "batch.sqlite3", isolation_level=None)
    db.execute("""CREATE TABLE links (center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
        PRIMARY KEY (center, station, epoch, seq))""")
    db.execute(IDS_TABLE)
    got, i = [], 0
    while i < len(stream):
        size = rng.randrange(1, 15)
        got += check_links(db, stream[i:i + size])
        i += size
    assert [tuple(f.to_json().values()) for f in expected] == [
        (c, s, seq, ident, problem, detail) for c, s, seq, ident, problem, detail in got]
    # Which record is blamed depends on the order they came in; never nothing.
    assert {f.seq for f in expected if f.problem == "chain"} & {18, 19}
    assert {f.seq for f in expected} & {4, 5}
