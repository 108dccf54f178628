"""The seal as specified in docs/seal.md: the worked example there is what the
code computes; the stand-alone verifier (tools/verify_receipt.py, written
from the doc) accepts a real station record and refuses it with one value
changed or a wrong key; a receipt code is found in InfluxDB."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from milk_common.integrity import core_of, record_hash, receipt_code, sign

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "seal.md"
VERIFIER = REPO / "tools" / "verify_receipt.py"
KEY = bytes.fromhex("5a" * 32)


def doc_blocks() -> dict[str, str]:
    """The fenced blocks of docs/seal.md whose info string names a `seal-example-*`."""
    blocks = re.findall(r"^```\w+ (seal-example-[a-z0-9-]+)\n(.*?)\n```", DOC.read_text(encoding="utf-8"),
                        re.S | re.M)
    return {name: text for name, text in blocks}


def canonical(record: dict) -> str:
    return json.dumps(core_of(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_worked_example_is_what_the_code_computes():
    b = doc_blocks()
    assert set(b) >= {"seal-example-record", "seal-example-canonical", "seal-example-sha256",
                      "seal-example-key", "seal-example-hmac", "seal-example-receipt"}
    record = json.loads(b["seal-example-record"])
    text = b["seal-example-canonical"].strip()
    assert canonical(record) == text
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == b["seal-example-sha256"].strip()
    assert record_hash(record) == b["seal-example-sha256"].strip() == record["hash"]
    key = bytes.fromhex(b["seal-example-key"].strip())
    assert sign(record["hash"], key) == b["seal-example-hmac"].strip() == record["hmac"]
    assert receipt_code(record["hash"]) == b["seal-example-receipt"].strip() == record["receipt_code"]
    # The doc says the canonical text's byte count; it must be the true one.
    assert f"{len(text.encode('utf-8'))} bytes" in DOC.read_text(encoding="utf-8")


def test_doc_states_each_rule_the_example_relies_on():
    """The three rules an independent implementation missed before the spec existed."""
    doc = DOC.read_text(encoding="utf-8")
    text = doc_blocks()["seal-example-canonical"]
    assert '"ts_ms":' in text and "`ts_ms`" in doc
    assert '"milk_temp_c":"15.0"' in text and "repr(float(value))" in doc
    assert 'empty string `""`' in doc
    # An empty string and a missing key hash like null, as the doc says.
    record = json.loads(doc_blocks()["seal-example-record"])
    assert record_hash({**record, "reject_reason": ""}) == record_hash(record)
    assert record_hash({k: v for k, v in record.items() if k != "refers_to"}) == record_hash(record)


def run_verifier(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(VERIFIER), *args], capture_output=True, text=True,
                          timeout=30)


def test_verifier_uses_only_the_standard_library(tmp_path):
    source = VERIFIER.read_text(encoding="utf-8")
    imported = set(re.findall(r"^(?:from|import) (\w+)", source, re.M))
    assert imported <= {"argparse", "hashlib", "hmac", "json", "sys", "datetime"}, imported
    # A copy alone in a folder, Python in isolated mode: nothing of the project can be imported.
    copy = tmp_path / "verify_receipt.py"
    copy.write_text(source, encoding="utf-8")
    (tmp_path / "record.json").write_text(doc_blocks()["seal-example-record"], encoding="utf-8")
    key = doc_blocks()["seal-example-key"].strip()
    result = subprocess.run([sys.executable, "-I", str(copy), "record.json", "--key", key],
                            capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("OK: recibo DBD9-B7CA"), result


def station_record(tmp_path: Path) -> dict:
    """A delivery as the station's own code records and seals it (outbox, third record)."""
    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records
    from milk_common.contract import station_topic

    outbox = Outbox(tmp_path / "station.sqlite3")
    try:
        start = datetime(2026, 11, 3, 6, 0, tzinfo=ZoneInfo("America/La_Paz"))
        sealed = [outbox.record_delivery(r, station_topic("c1", "s1", "delivery"), KEY)
                  for r in make_records(3, center="c1", station="s1", start=start, seed=7)]
        # What the station sends is what it stored.
        assert outbox.deliveries()[-1] == json.loads(json.dumps(sealed[-1]))
        return outbox.deliveries()[-1]
    finally:
        outbox.close()


def test_verifier_accepts_a_real_record_and_refuses_a_changed_one(tmp_path):
    record = station_record(tmp_path)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    ok = run_verifier(str(path), "--key", KEY.hex(), "--code", record["receipt_code"].lower())
    assert ok.returncode == 0 and ok.stdout.startswith("OK: recibo " + record["receipt_code"]), ok
    assert "firma" in ok.stdout and not ok.stderr

    for key, value in (("liters", record["liters"] + 0.001), ("producer", "p999"),
                       ("accepted", not record["accepted"]), ("ts", "2026-11-03T06:00:01.000-04:00")):
        changed = dict(record, **{key: value})
        path.write_text(json.dumps(changed), encoding="utf-8")
        bad = run_verifier(str(path))
        assert bad.returncode == 1 and bad.stdout.startswith("FALLA: el hash no corresponde"), (key, bad)

    # Values changed and the hash made again without the key: the code changes, and the
    # signature check catches it even if someone also forges the printed code.
    forged = dict(record, liters=record["liters"] + 5)
    forged["hash"] = record_hash(forged)
    forged["receipt_code"] = receipt_code(forged["hash"])
    path.write_text(json.dumps(forged), encoding="utf-8")
    assert run_verifier(str(path)).returncode == 0                    # self-consistent without a key
    assert run_verifier(str(path), "--code", record["receipt_code"]).returncode == 1
    assert run_verifier(str(path), "--key", KEY.hex()).returncode == 1

    path.write_text(json.dumps(record), encoding="utf-8")
    wrong = run_verifier(str(path), "--key", "a5" * 32)
    assert wrong.returncode == 1 and wrong.stdout.startswith("FALLA: la firma"), wrong


def test_verifier_agrees_with_the_code_on_edge_values(tmp_path):
    """Whole numbers, nulls, empty strings, non-ASCII text, a time in UTC with Z."""
    base = json.loads(doc_blocks()["seal-example-record"])
    cases = [dict(base, liters=20, weight_kg=20.0), dict(base, fat_pct=None, reject_reason=""),
             dict(base, producer="ñandú-1", note="más"), dict(base, ts="2026-11-01T11:00:57.1239Z"),
             {k: v for k, v in base.items() if k not in ("kind", "refers_to", "milk_temp_c")}]
    for i, record in enumerate(cases):
        record = dict(record)
        record["hash"] = record_hash(record)
        record["hmac"] = hmac.new(KEY, record["hash"].encode(), hashlib.sha256).hexdigest()
        record["receipt_code"] = receipt_code(record["hash"])
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        result = run_verifier(str(path), "--key", KEY.hex())
        assert result.returncode == 0, (record, result.stdout)


def test_verifier_bad_input_is_one_line(tmp_path):
    missing = run_verifier(str(tmp_path / "none.json"))
    assert missing.returncode == 1 and missing.stdout.startswith("FALLA:") and not missing.stderr
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    broken = run_verifier(str(tmp_path / "x.json"))
    assert broken.returncode == 1 and len(broken.stdout.splitlines()) == 1
    (tmp_path / "y.json").write_text(json.dumps(json.loads(doc_blocks()["seal-example-record"])))
    short_key = run_verifier(str(tmp_path / "y.json"), "--key", "abcd")
    assert short_key.returncode == 1 and "clave" in short_key.stdout


# -- the hub finds a receipt code in InfluxDB ------------------------------------------
@pytest.mark.servers
def test_find_receipt_in_influxdb(servers, unique, tmp_path):
    from milk_common.contract import decode_station_message, station_topic
    from milk_common.integrity import seal

    from hub.receipts import find_receipt, normalize_receipt_code
    from hub.store.influx import InfluxV1
    from hub.store.points import points

    record = station_record(tmp_path)
    record = {**record, "center": unique}
    prev = record["prev_hash"]
    record = seal({k: v for k, v in record.items() if k not in ("hash", "hmac", "receipt_code")}, prev, KEY)
    void = seal({**record, "id": "v" + record["id"][1:], "seq": record["seq"] + 1, "kind": "void",
                 "refers_to": record["id"], "accepted": False, "reject_reason": "void",
                 "ts": (datetime.fromisoformat(record["ts"]) + timedelta(minutes=5)).isoformat()},
                record["hash"], KEY)
    influx = InfluxV1(servers.influxdb.url, unique)
    influx.create_database()
    topic = station_topic(unique, "s1", "delivery")
    influx.write(points(decode_station_message(topic, json.dumps(record).encode())))
    tz = ZoneInfo("America/La_Paz")

    found = find_receipt(influx, record["receipt_code"].lower().replace("-", ""), tz)
    assert found is not None and found.code == record["receipt_code"]
    assert found.ts == datetime.fromisoformat(record["ts"]) and found.ts.tzinfo == tz
    assert found.liters == Decimal(repr(record["liters"]))
    assert found.solids_pct == (Decimal(repr(record["solids_pct"])) if record["solids_pct"] is not None else None)
    assert found.accepted is record["accepted"] and not found.voided and found.matches == 1

    other = "0000-0000" if record["receipt_code"] != "0000-0000" else "FFFF-FFFF"
    assert find_receipt(influx, other, tz) is None
    assert find_receipt(influx, "no es un código", tz) is None
    assert normalize_receipt_code(" dbd9-b7ca ") == "DBD9-B7CA" and normalize_receipt_code("DBD9-B7C") is None

    influx.write(points(decode_station_message(topic, json.dumps(void).encode())))
    assert find_receipt(influx, record["receipt_code"], tz).voided


DOC_2 = REPO / "docs" / "seal-2.md"


def test_seal2_worked_example_is_what_the_code_and_the_verifier_compute(tmp_path):
    blocks = dict(re.findall(r"^```\w+ (seal2-example-[a-z0-9-]+)\n(.*?)\n```",
                             DOC_2.read_text(encoding="utf-8"), re.S | re.M))
    record = json.loads(blocks["seal2-example-record"])
    text = blocks["seal2-example-canonical"].strip()
    assert record["seal"] == "seal/2" and '"epoch":' in text and '"operator":' in text
    assert canonical(record) == text
    assert f"{len(text.encode('utf-8'))} bytes" in DOC_2.read_text(encoding="utf-8")
    assert record_hash(record) == blocks["seal2-example-sha256"].strip() == record["hash"]
    key = bytes.fromhex(blocks["seal2-example-key"].strip())
    assert sign(record["hash"], key) == blocks["seal2-example-hmac"].strip() == record["hmac"]
    assert receipt_code(record["hash"]) == blocks["seal2-example-receipt"].strip() == record["receipt_code"]
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    ok = run_verifier(str(path), "--key", key.hex())
    assert ok.returncode == 0 and "(seal/2)" in ok.stdout, ok
    # The operator and the epoch are sealed now: changing either breaks it.
    for changed in ({**record, "operator": "otro"}, {**record, "epoch": "0" * 16},
                    {k: v for k, v in record.items() if k != "seal"}, {**record, "seal": "seal/9"}):
        path.write_text(json.dumps(changed), encoding="utf-8")
        bad = run_verifier(str(path), "--key", key.hex())
        assert bad.returncode == 1 and bad.stdout.startswith("FALLA: "), (changed, bad)


def test_stations_seal_with_seal2(tmp_path):
    record = station_record(tmp_path)
    assert record["seal"] == "seal/2" and record["epoch"]
    assert record_hash({**record, "operator": "alguien"}) != record["hash"]
