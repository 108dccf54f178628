"""Station outbox -> Mosquitto -> hub ingest -> InfluxDB, on the real servers:
counts, totals, a hub that is down while stations publish, a crash, and an
InfluxDB outage. Nothing may be lost and nothing stored twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector_station.outbox.publisher import OutboxPublisher
from collector_station.outbox.store import Outbox
from devtools.fixtures import make_records
from hub.store.influx import InfluxError, InfluxV1
from milk_common.contract import station_topic

from .conftest import wait_until

LIMA = ZoneInfo("America/Lima")
KEY = b"0123456789abcdef0123456789abcdef"
pytestmark = pytest.mark.servers


def record_all(outbox: Outbox, records, center: str, station: str) -> list[dict]:
    topic = station_topic(center, station, "delivery")
    return [outbox.record_delivery(r, topic, KEY) for r in records]


def publisher_for(outbox: Outbox, servers, center: str, station: str) -> OutboxPublisher:
    # The station's own broker login (TLS) and its key KEY registered with the hub.
    access = servers.provision_station(center, station, key=KEY)
    return OutboxPublisher(outbox, center=center, station=station, host="127.0.0.1",
                           port=servers.mqtt_port, access=access, reconnect_max_s=0.5)


def stored(servers, database: str, query: str = "SELECT COUNT(liters) FROM delivery") -> int:
    try:
        rows = list(InfluxV1(servers.influxdb.url, database).query(query))
    except InfluxError as exc:
        if "database not found" in str(exc):
            return 0
        raise
    return rows[0]["count"] if rows else 0


def hub_connected(hub) -> bool:
    status = Path(hub.config_path).parent / "hub-data" / "ingest-status.json"
    try:
        return json.loads(status.read_text())["connected"]
    except (OSError, ValueError, KeyError):
        return False


def hub_status(hub) -> dict:
    return json.loads((Path(hub.config_path).parent / "hub-data" / "ingest-status.json").read_text())


def test_deliveries_reach_influx_once_with_totals(servers, hub, tmp_path, unique):
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    outbox = Outbox(tmp_path / "station.sqlite3")
    start = datetime(2026, 11, 3, 6, 0, tzinfo=LIMA)
    sent = record_all(outbox, make_records(120, center=unique, station="s1", start=start), unique, "s1")
    publisher = publisher_for(outbox, servers, unique, "s1").start()
    try:
        wait_until(lambda: stored(servers, hub.database) == 120, message="120 deliveries stored")
        wait_until(lambda: outbox.backlog() == 0, message="outbox drained")
    finally:
        publisher.stop()
    # Every value arrives as recorded: sum of litres and of litre-weighted solids.
    rows = list(InfluxV1(servers.influxdb.url, hub.database).query(
        "SELECT id, liters, solids_pct, accepted, producer FROM delivery"))
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in sent)
    assert sum(Decimal(repr(r["liters"])) for r in rows) == sum(Decimal(repr(d["liters"])) for d in sent)
    by_id = {d["id"]: d for d in sent}
    for r in rows:
        assert r["solids_pct"] == by_id[r["id"]]["solids_pct"]
        assert r["producer"] == by_id[r["id"]]["producer"]
        assert r["accepted"] is True
    # Re-sending everything (a lost PUBACK, a restored backup) adds nothing.
    for d in sent:
        outbox.enqueue(station_topic(unique, "s1", "delivery"), d)
    publisher = publisher_for(outbox, servers, unique, "s1").start()
    try:
        wait_until(lambda: outbox.backlog() == 0, message="duplicates sent")
        wait_until(lambda: hub_status(hub)["stored_messages"] >= 240, message="duplicates stored")
    finally:
        publisher.stop()
    assert stored(servers, hub.database) == 120


def test_hub_down_while_stations_publish_backlog_over_1000(servers, hub, tmp_path, unique):
    # The hub's persistent session must exist before it goes away.
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    hub.stop()
    stations = ["s1", "s2"]
    outboxes, publishers, expected = [], [], 0
    start = datetime(2026, 11, 5, 5, 30, tzinfo=LIMA)
    for i, station in enumerate(stations):
        outbox = Outbox(tmp_path / f"{station}.sqlite3")
        record_all(outbox, make_records(800, center=unique, station=station, start=start, seed=i),
                   unique, station)
        expected += 800
        outboxes.append(outbox)
        publishers.append(publisher_for(outbox, servers, unique, station).start())
    try:
        # The broker acknowledged all 1,600 while the hub was down.
        wait_until(lambda: all(o.backlog() == 0 for o in outboxes), timeout_s=60, message="published")
        assert stored(servers, hub.database) == 0
        hub.start()
        wait_until(lambda: stored(servers, hub.database) == expected, timeout_s=60,
                   message=f"{expected} stored after restart")
        # Crash the hub in the middle of a second backlog: redelivered, stored once.
        wait_until(lambda: hub_status(hub)["backlog"] == 0)
        record_all(outboxes[0], make_records(600, center=unique, station="s1",
                                             start=start + timedelta(days=1), seed=7), unique, "s1")
        publishers[0].wake()
        wait_until(lambda: stored(servers, hub.database) > expected, timeout_s=30, interval_s=0.02)
        hub.kill()
        wait_until(lambda: outboxes[0].backlog() == 0, timeout_s=60)
        hub.start()
        wait_until(lambda: stored(servers, hub.database) == expected + 600, timeout_s=60,
                   message="second backlog stored once")
    finally:
        for p in publishers:
            p.stop()


def test_influxdb_down_nothing_lost(servers, hub, tmp_path, unique):
    hub.start()
    wait_until(lambda: hub_connected(hub), message="hub connected")
    outbox = Outbox(tmp_path / "station.sqlite3")
    publisher = publisher_for(outbox, servers, unique, "s1").start()
    start = datetime(2026, 11, 9, 6, 0, tzinfo=LIMA)
    try:
        record_all(outbox, make_records(50, center=unique, station="s1", start=start), unique, "s1")
        publisher.wake()
        wait_until(lambda: stored(servers, hub.database) == 50)
        servers.influxdb.stop()
        try:
            record_all(outbox, make_records(400, center=unique, station="s1",
                                            start=start + timedelta(hours=2), seed=3), unique, "s1")
            publisher.wake()
            # The failure surfaces: counted and named in the hub's status.
            wait_until(lambda: hub_status(hub)["write_failures"] > 0, message="write failure seen")
            assert "InfluxDB" in hub_status(hub)["last_error"]
            wait_until(lambda: outbox.backlog() == 0, message="station drained to the broker")
            # The hub crashes while holding unstored messages: it had not
            # acknowledged them, so the broker gives them to the next run.
            hub.kill()
            (Path(hub.config_path).parent / "hub-data" / "ingest-status.json").unlink()
            hub.start()
            wait_until(lambda: hub_connected(hub) and hub_status(hub)["write_failures"] > 0,
                       message="restarted hub retrying")
        finally:
            servers.influxdb.start()
        wait_until(lambda: stored(servers, hub.database) == 450, timeout_s=60,
                   message="all 450 stored after InfluxDB came back")
    finally:
        publisher.stop()


def test_statement_from_influx_matches_station_records_and_export_round_trip(
        servers, hub, tmp_path, unique):
    """Station outbox -> broker -> hub -> InfluxDB -> statement, with a
    delivery at 23:59 local on the 15th (the 16th in UTC) that must stay in -1."""
    import csv
    import subprocess
    import sys

    hub.start()
    wait_until(lambda: hub_connected(hub))
    outbox = Outbox(tmp_path / "station.sqlite3")
    start = datetime(2026, 11, 15, 23, 30, tzinfo=LIMA)       # 23:30 .. 23:59 on the 15th
    first = record_all(outbox, make_records(30, center=unique, station="s1", start=start, seed=5),
                       unique, "s1")
    late = record_all(outbox, make_records(5, center=unique, station="s1",
                                           start=datetime(2026, 11, 16, 0, 0, tzinfo=LIMA), seed=6),
                      unique, "s1")
    publisher = publisher_for(outbox, servers, unique, "s1").start()
    try:
        wait_until(lambda: stored(servers, hub.database) == 35)
    finally:
        publisher.stop()
    pricing = Path(__file__).resolve().parent.parent / "examples" / "pricing.toml"
    run = lambda *args: subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True,
                                       text=True, timeout=60)
    out1 = tmp_path / "from-influx"
    proc = run("payments", "--period", "2026-11-1", "--pricing", str(pricing), "--out", str(out1),
               "--config", str(hub.config_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out1 / "statements.csv").open()))
    total = rows[-1]
    assert total["producer"] == "TOTAL"
    assert int(total["deliveries"]) == 30        # the 5 from the 16th are in -2
    expected_l = sum(Decimal(repr(d["liters"])) for d in first).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert Decimal(total["liters"]) == expected_l
    assert sum(int(r["deliveries"]) for r in rows[:-1]) == 30
    # Export, then pay from the CSV: the same statement to the cent.
    exported = tmp_path / "deliveries.csv"
    proc = run("export", "--period", "2026-11-1", "--out", str(exported), "--config", str(hub.config_path))
    assert proc.returncode == 0, proc.stderr
    assert len(list(csv.DictReader(exported.open()))) == 30
    out2 = tmp_path / "from-csv"
    proc = run("payments", "--period", "2026-11-1", "--pricing", str(pricing), "--out", str(out2),
               "--deliveries", str(exported), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (out2 / "statements.csv").read_text() == (out1 / "statements.csv").read_text()
    proc = run("payments", "--period", "2026-11-2", "--pricing", str(pricing), "--out",
               str(tmp_path / "p2"), "--config", str(hub.config_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    total2 = list(csv.DictReader((tmp_path / "p2" / "statements.csv").open()))[-1]
    assert total2["deliveries"] == "5"
    # The 5 from the 16th are paid in -2, every litre of them.
    assert Decimal(total2["liters"]) == sum(Decimal(repr(d["liters"])) for d in late).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)
