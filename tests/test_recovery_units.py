"""The pure core of recovery: sets of sequence numbers, gaps, and when to ask."""

from __future__ import annotations

import random

from hub.recovery import seqset
from hub.recovery.plan import Settings, Stream, coalesce, plan, refresh_gaps


def test_ranges_merge_and_missing():
    ranges = seqset.add([], [5, 1, 2, 3, 9, 7, 8])
    assert ranges == [(1, 3), (5, 5), (7, 9)]
    assert seqset.missing(ranges, 12) == [(4, 4), (6, 6), (10, 12)]
    assert seqset.add(ranges, [4, 6]) == [(1, 9)]
    assert seqset.missing([(1, 9)], 9) == []
    assert seqset.missing([], 3) == [(1, 3)]
    assert seqset.count(ranges) == 7


def test_ranges_against_a_plain_set():
    rng = random.Random(4)
    ranges, plain = [], set()
    for _ in range(200):
        batch = [rng.randint(1, 300) for _ in range(rng.randint(0, 20))]
        ranges = seqset.add(ranges, batch)
        plain.update(batch)
        assert seqset.count(ranges) == len(plain)
        expected_missing = set(range(1, 301)) - plain
        got = {n for lo, hi in seqset.missing(ranges, 300) for n in range(lo, hi + 1)}
        assert got == expected_missing


def stream(stored, announced=0):
    return Stream("c", "s", "e" * 16, "delivery", stored=list(stored), announced=announced)


def test_gap_keeps_its_first_noticed_time_while_it_shrinks():
    s = stream([(1, 10)], announced=30)
    refresh_gaps(s, now=100.0)
    assert [(g.lo, g.hi, g.since) for g in s.gaps] == [(11, 30, 100.0)]
    s.stored = seqset.add(s.stored, range(11, 20))
    s.announced = 40
    refresh_gaps(s, now=150.0)
    assert [(g.lo, g.hi, g.since) for g in s.gaps] == [(20, 30, 100.0), (31, 40, 150.0)]


def test_asks_only_after_the_wait_then_again_after_retry():
    settings = Settings(ask_after_s=20, retry_s=60, max_outstanding=1000)
    s = stream([(1, 10)], announced=30)
    refresh_gaps(s, now=0.0)
    assert plan(s, 10.0, settings) == []           # may still be queued at the broker
    assert plan(s, 20.0, settings) == [(11, 30)]
    assert plan(s, 50.0, settings) == []           # asked, not yet back
    assert plan(s, 80.0, settings) == [(11, 30)]   # still missing: asked again
    assert s.gaps[0].asks == 2


def test_outstanding_is_bounded_and_the_rest_follows_as_records_arrive():
    settings = Settings(ask_after_s=0, retry_s=60, max_outstanding=500)
    s = stream([], announced=1800)
    refresh_gaps(s, now=0.0)
    assert plan(s, 1.0, settings) == [(1, 500)]
    assert plan(s, 2.0, settings) == []
    s.stored = seqset.add(s.stored, range(1, 501))
    refresh_gaps(s, now=3.0)
    assert plan(s, 3.0, settings) == [(501, 1000)]


def test_close_gaps_are_one_request():
    assert coalesce([(1, 3), (10, 12), (100, 101)]) == [(1, 12), (100, 101)]
    settings = Settings(ask_after_s=0, retry_s=60, max_outstanding=1000)
    s = stream([(1, 4), (6, 9), (11, 100)], announced=100)
    refresh_gaps(s, now=0.0)
    assert plan(s, 0.0, settings) == [(5, 10)]


# -- the station keeps and re-sends; the hub's index and `milk-hub gaps` ------------

def test_station_requeues_records_unchanged_and_not_twice(tmp_path):
    from datetime import datetime, timezone

    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records
    outbox = Outbox(tmp_path / "station.sqlite3")
    topic = "milk/v1/c1/s1/delivery"
    sent = [outbox.record_delivery(r, topic, b"k" * 32) for r in make_records(
        5, center="c1", station="s1", start=datetime(2026, 11, 2, tzinfo=timezone.utc))]
    assert {d["epoch"] for d in sent} == {outbox.epoch}
    first = {m.n: m.payload for m in outbox.unsent(0, 100)}
    outbox.mark_sent(first)
    assert outbox.requeue("delivery", 2, 4) == 3
    assert outbox.requeue("delivery", 1, 9) == 2        # 2-4 still wait: not queued twice
    again = sorted(m.payload for m in outbox.unsent(0, 100))
    assert again == sorted(first.values())               # the very bytes first published
    for i in range(4):
        outbox.add_tank_sample("t1", f"2026-11-02T00:00:0{i}.000+00:00", 4.0)
    outbox.batch_tank_samples(lambda tank: f"milk/v1/c1/s1/tank/{tank}",
                              {"center": "c1", "station": "s1"}, 2)
    batches = outbox.tank_messages()
    assert [(b["seq"], b["epoch"]) for b in batches] == [(1, outbox.epoch), (2, outbox.epoch)]
    assert outbox.last_tank_seq() == 2
    outbox.close()
    assert Outbox(tmp_path / "station.sqlite3").epoch == outbox.epoch    # kept with the database
    assert Outbox(tmp_path / "other.sqlite3").epoch != outbox.epoch       # a new one: a new epoch


def test_index_persists_and_gaps_command_reports(tmp_path, capsys):
    import json

    from hub.cli import main
    from hub.recovery.index import SeqIndex
    epoch = "0123456789abcdef"
    data = tmp_path / "data"
    index = SeqIndex(data / "recovery.sqlite3")
    index.update([("c1", "s1", epoch, "delivery", n) for n in (1, 2, 3, 7)],
                 [("c1", "s1", epoch, True, 9, 0)], now=1_790_000_000.0)
    index.close()
    reopened = SeqIndex(data / "recovery.sqlite3")
    stream = reopened.streams[("c1", "s1", epoch, "delivery")]
    assert stream.stored == [(1, 3), (7, 7)] and stream.announced == 9
    assert [(g.lo, g.hi) for g in stream.gaps] == [(4, 6), (8, 9)]
    reopened.close()
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{data}"\n')
    assert main(["gaps", "--config", str(config), "--json"]) == 1
    row = json.loads(capsys.readouterr().out)
    assert (row["missing"], row["stored"], row["announced"]) == (5, 4, 9)
    assert row["ranges"][0]["since"] == "2026-09-21T14:13:20+00:00"
    assert main(["gaps", "--config", str(config), "--lang", "es"]) == 1
    text = capsys.readouterr().out
    assert "faltan 5" in text and "4-6: falta desde 2026-09-21T14:13:20+00:00; aún no pedido" in text
    assert main(["gaps", "--config", str(config), "--center", "other"]) == 0
    assert "sin faltantes" in capsys.readouterr().out


def test_records_without_epoch_count_under_the_announced_one(tmp_path):
    from hub.recovery.index import SeqIndex
    index = SeqIndex(tmp_path / "recovery.sqlite3")
    index.update([], [("c1", "s1", "aaaaaaaaaaaaaaaa", True, 2, None)], now=0.0)
    index.update([("c1", "s1", None, "delivery", 1), ("c1", "s1", None, "delivery", 2)], [], now=1.0)
    assert index.streams[("c1", "s1", "aaaaaaaaaaaaaaaa", "delivery")].gaps == []


def test_chain_watch_takes_replays_out_of_order_and_new_epochs_without_alarm(tmp_path):
    from datetime import datetime, timezone

    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records
    from hub.ingest.integrity import ChainWatch
    key = b"k" * 32

    def station_records(name: str, n: int) -> list[dict]:
        outbox = Outbox(tmp_path / f"{name}.sqlite3")
        records = [outbox.record_delivery(r, "milk/v1/c1/s1/delivery", key) for r in make_records(
            n, center="c1", station="s1", start=datetime(2026, 11, 2, tzinfo=timezone.utc))]
        outbox.close()
        return records

    old, new = station_records("old", 6), station_records("new", 3)
    chain = ChainWatch(tmp_path / "chain.sqlite3")
    findings = []
    for record in [old[0], old[4], old[5], old[2], old[1], old[3], old[2], old[5]]:   # replayed, out of order, twice
        findings += chain.observe(record)
    for record in new:        # a reinstalled station: seq 1-3 again, a new epoch
        findings += chain.observe(record)
    assert findings == []
    forged = dict(old[3], id="other", hash="f" * 64)   # a different record under a known seq: still caught
    assert [f.problem for f in chain.observe(forged)] == ["seq_reused"]
    reused = dict(old[3], hash="e" * 64)               # ... and under a known id: refused
    assert [f.problem for f in chain.observe(reused)] == ["id_reused"]


def test_recovery_payloads_in_the_contract():
    import json

    import pytest

    from milk_common.contract import (InvalidPayload, ReplayV1, StatusV1, decode, decode_station_message,
                                      replay_payload, status_payload, tank_payload)
    epoch = "0123456789abcdef"
    request = decode(ReplayV1, json.dumps(replay_payload("c1", "s1", epoch, "tank", 3, 9)).encode())
    assert (request.kind, request.from_seq, request.to_seq) == ("tank", 3, 9)
    for bad in ({"to_seq": 2}, {"epoch": "NOT-AN-EPOCH"}, {"kind": "shift"}, {"from_seq": 0}):
        raw = {**replay_payload("c1", "s1", epoch, "delivery", 3, 9), **bad}
        with pytest.raises(InvalidPayload):
            decode(ReplayV1, json.dumps(raw).encode())
    status = status_payload("c1", "s1", "online", epoch=epoch, last_seq=12, last_tank_seq=4)
    message = decode_station_message("milk/v1/c1/s1/status", json.dumps(status).encode())
    assert isinstance(message, StatusV1) and (message.epoch, message.last_seq, message.last_tank_seq) == (epoch, 12, 4)
    tank = tank_payload("c1", "s1", "t1", [{"ts": "2026-11-02T06:00:00-05:00", "temp_c": 4.0}], seq=7, epoch=epoch)
    assert decode_station_message("milk/v1/c1/s1/tank/t1", json.dumps(tank).encode()).seq == 7


def test_station_answers_only_requests_for_itself_and_its_epoch(tmp_path):
    import json
    from datetime import datetime, timezone

    from collector_station.outbox.publisher import OutboxPublisher
    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records
    from milk_common.contract import replay_payload
    outbox = Outbox(tmp_path / "station.sqlite3")
    for r in make_records(4, center="c1", station="s1", start=datetime(2026, 11, 2, tzinfo=timezone.utc)):
        outbox.record_delivery(r, "milk/v1/c1/s1/delivery", b"k" * 32)
    outbox.mark_sent(m.n for m in outbox.unsent(0, 100))
    publisher = OutboxPublisher(outbox, center="c1", station="s1", host="127.0.0.1", port=1)

    def ask(**changes) -> int:
        before = outbox.backlog()
        payload = {**replay_payload("c1", "s1", outbox.epoch, "delivery", 2, 3), **changes}
        publisher._replay(json.dumps(payload).encode())
        return outbox.backlog() - before

    assert ask(epoch="ffffffffffffffff") == 0       # an older database's records went with it
    assert ask(station="s2") == 0
    assert ask(to_seq=1) == 0                         # malformed: refused, logged
    publisher._replay(b"not json")
    assert ask() == 2 and publisher.replayed == 2
