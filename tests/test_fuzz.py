"""A short pass of the fuzzer (`make fuzz` runs the long one: devtools/fuzz.py),
and what the fuzzer found, kept as plain regression tests."""

import io
import json

import pytest

from collector_station.instruments.protocols import INSTRUMENTS, make_parser
from collector_station.instruments.protocols.base import LineParser, ParseError
from devtools import fuzz


@pytest.mark.parametrize("name", list(INSTRUMENTS))
def test_each_parser_survives_random_and_mutated_frames(name):
    result = fuzz.fuzz_parser(name, 3000, seed=7)
    assert result.failures == [], result.failures[0]
    assert result.frames == 3000 and result.events["error"] > 0
    # The generator must also give valid frames, or it would test nothing but noise.
    assert sum(n for kind, n in result.events.items() if kind != "error") > 0


def test_the_fuzzer_catches_a_parser_that_raises(monkeypatch):
    class Fragile(LineParser):
        name = "ad"

        def parse_line(self, line):
            if b"9" in line:
                raise ValueError("nine")
            return ParseError("whatever", line)

    monkeypatch.setattr(fuzz, "make_parser", lambda name: Fragile())
    result = fuzz.fuzz_parser("ad", 500, seed=1)
    assert result.failures and result.failures[0][0].startswith("ParserBug ValueError: nine")


def test_found_by_the_fuzzer_sics_exponent_overflow():
    parser = make_parser("sics")
    events = parser.feed(b"S S     -1e999999999999 kg\r\nS S      12.34 kg\r\n")
    assert parser.bugs == 0
    assert [e.kind for e in events] == ["error", "weight"]


def test_found_by_the_fuzzer_payloads_msgspec_cannot_read():
    from milk_common.contract import InvalidPayload, decode_station_message
    with pytest.raises(InvalidPayload, match="not UTF-8"):
        decode_station_message("milk/v1/c1/s1/tank/t1", b'{"schema": "t\xe1nk/1"}')
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        decode_station_message("milk/v1/c1/s1/status", b'{"a":' * 5000 + b"1" + b"}" * 5000)


def test_found_by_the_fuzzer_nesting_at_the_limit_does_not_stop_the_ingest(tmp_path):
    """A delivery whose ignored key nests just under msgspec's limit passed
    the decoder and then broke the seal check's json.loads: RecursionError,
    which stopped the ingest loop. Now a dead letter (or stored)."""
    from hub.config import HubConfig, HubIntegrity
    from hub.ingest.service import Ingest, Received
    ingest = Ingest(HubConfig(data_dir=str(tmp_path), integrity=HubIntegrity(require_signature=False)))
    ingest._write_with_retry = lambda good: (ingest._count_stored(good), (True, []))[1]
    base = {"schema": "delivery/1", "id": "abc123", "seq": 1, "center": "c", "station": "s",
            "producer": "p1", "ts": "2026-11-20T06:00:00-05:00", "liters": 1.0, "accepted": False}
    batch = [fuzz_payload(base, depth) for depth in range(900, 1100, 2)]
    ingest._store(ingest._check([Received(0, i, 0, "milk/v1/c/s/delivery", p)
                                 for i, p in enumerate(batch)]))
    assert ingest.stats.dead_letters + ingest.stats.stored_messages == len(batch)


def fuzz_payload(base: dict, depth: int) -> bytes:
    return json.dumps(base)[:-1].encode() + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.servers
def test_the_hub_dead_letters_garbage_on_every_topic_and_keeps_storing(servers, unique, tmp_path):
    out = io.StringIO()
    results = fuzz.fuzz_hub_in_process(servers.influxdb.url, unique, tmp_path / "hub", 300, seed=3,
                                       batch_size=100, out=out)
    assert [r.failures for r in results] == [[]] * len(results), out.getvalue()
    by_kind = {r.kind: r for r in results}
    assert set(by_kind) == {"delivery", "tank", "coldchain", "status", "shift", "good-after"}
    for kind in ("delivery", "tank", "coldchain", "status", "shift"):
        assert by_kind[kind].dead_letters + by_kind[kind].stored == 300
        assert by_kind[kind].dead_letters > 200          # most of it is garbage
    assert by_kind["good-after"].stored == 1


@pytest.mark.servers
def test_the_hub_process_survives_garbage_through_the_broker(servers, tmp_path):
    out = io.StringIO()
    result = fuzz.fuzz_hub_through_broker(servers, 20, tmp_path / "broker", seed=5, out=out)
    assert result.failures == [], out.getvalue()
    assert result.dead_letters > 0
