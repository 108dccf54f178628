"""The hub flags deliveries whose stamp cannot be right: stored all the
same, with an integrity finding and a `delivery_clock` point."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.ingest.timecheck import stamp_findings

ARRIVED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("offset, problem", [
    (timedelta(minutes=4), None),                 # a little skew is normal
    (timedelta(minutes=6), "clock_future"),
    (timedelta(days=-29), None),                  # a station offline for weeks: late, not wrong
    (timedelta(days=-31), "clock_late"),
])
def test_which_stamps_are_flagged(offset, problem):
    found = stamp_findings("c1", "s1", 7, "abc", ARRIVED + offset, ARRIVED, 300, 30)
    assert [f.problem for f in found] == ([problem] if problem else [])
    if problem:
        assert (found[0].seq, found[0].id, found[0].station) == (7, "abc", "s1")


@pytest.mark.servers
def test_a_future_stamp_is_stored_and_flagged(servers, unique, tmp_path):
    from hub.config import HubConfig, HubInflux, HubIntegrity
    from hub.ingest.service import Ingest, Received
    from milk_common.integrity import GENESIS, seal

    config = HubConfig(data_dir=str(tmp_path / "hub"),
                       influx=HubInflux(url=servers.influxdb.url, database=unique),
                       integrity=HubIntegrity(require_signature=False))
    ingest = Ingest(config)
    flagged = []
    ingest.integrity_observers.append(flagged.append)
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat(timespec="milliseconds")
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    first = seal({"schema": "delivery/1", "id": "f1", "seq": 1, "center": unique, "station": "s1",
                  "producer": "p001", "ts": ahead, "liters": 20.0, "accepted": True,
                  "solids_pct": 12.1, "flags": []}, GENESIS, b"k" * 32)
    second = seal({**{k: v for k, v in first.items() if k not in ("hash", "hmac", "receipt_code",
                                                                   "prev_hash")},
                   "id": "f2", "seq": 2, "ts": now}, first["hash"], b"k" * 32)
    topic = f"milk/v1/{unique}/s1/delivery"
    ingest._store(ingest._check([Received(0, 1, 0, topic, json.dumps(first).encode()),
                                 Received(0, 2, 0, topic, json.dumps(second).encode())]))
    stored = list(ingest.influx.query("SELECT id FROM delivery"))
    assert sorted(r["id"] for r in stored) == ["f1", "f2"]             # both stored
    flags = list(ingest.influx.query("SELECT * FROM delivery_clock"))
    assert [(r["id"], r["problem"]) for r in flags] == [("f1", "clock_future")]
    assert 7100 < flags[0]["skew_s"] < 7300
    assert [(f.problem, f.seq) for f in flagged] == [("clock_future", 1)]
    logged = [json.loads(x) for x in (tmp_path / "hub" / "integrity.jsonl").read_text().splitlines()]
    assert [x["problem"] for x in logged] == ["clock_future"]
    ingest.influx.drop_database()


def test_a_clock_finding_alerts_as_a_wrong_station_clock(tmp_path):
    """Not as an altered record: the technician is told to look at the clock."""
    from hub.alerts.engine import AlertEngine, AlertSettings
    from hub.alerts.store import AlertStore

    from .test_alerts import Recorder
    rec = Recorder()
    engine = AlertEngine(AlertStore(tmp_path / "a.sqlite3"), AlertSettings(), [rec])
    (finding,) = stamp_findings("c1", "s1", 7, "abc", ARRIVED + timedelta(hours=2), ARRIVED, 300, 30)
    engine.integrity(finding.center, finding.station, f"{finding.problem}: {finding.detail}",
                     now=ARRIVED, kind="station_clock")
    assert len(rec.sent) == 1
    assert rec.sent[0][1].startswith("Reloj de la estación desajustado")
    assert "clock_future" in rec.sent[0][2]
