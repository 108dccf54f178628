"""Fuzzing: every instrument parser and the hub's ingest fed random and mutated input.

    python -m devtools.fuzz                         # all of it (make fuzz)
    python -m devtools.fuzz parsers [--count 1000000] [--format ad ...] [--seed N]
    python -m devtools.fuzz hub [--count 10000] [--broker-count 300] [--seed N]

A plain generator, not a coverage-guided fuzzer: each case is a valid frame
(from the instrument's own simulator builders), a mutation of one (bit
flips, bytes inserted, deleted, duplicated, spliced, numbers swapped for
nasty ones), or random bytes; hypothesis costs about 0.3 ms an example here,
too slow for a million. The parsers must turn all of it into their
documented events (`ParseError` for what they cannot read): any exception,
any `ParserBug` event, or a non-finite number in an event is a failure,
printed with the bytes that caused it.

The hub part feeds malformed payloads on every station topic kind through
the ingest's real path (`decode_station_message`, the seal check, the
InfluxDB write, the dead letters) against a real InfluxDB: nothing may
raise, every payload must end up either stored or dead-lettered with a
reason (the reason decode_station_message gives, for those it refuses),
no batch may hang, and a good delivery sent after the garbage must be
stored. A smaller pass goes through the real broker to a `milk-hub ingest`
process, which must still be alive and store the good delivery at the end.

Exit status 1 when anything failed; the counts and rates are printed.
tests/test_fuzz.py runs a short pass of each in `make test`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from pathlib import Path

from collector_station.instruments.protocols import INSTRUMENTS, ParserBug, make_parser
from collector_station.instruments.protocols.base import (
    Analysis,
    BridgeSample,
    ParseError,
    Status,
    Volume,
    Weight,
)
from collector_station.instruments.protocols.spec import MilkSample, ScaleDisplay
from milk_common.mqtt import stop_loop

EVENT_TYPES = (Weight, Volume, Analysis, Status, BridgeSample, ParseError)
# Bytes and tokens that make parsers think: frame delimiters, signs, number
# spellings Python accepts but an instrument never sends.
SPECIAL_BYTES = b"\r\n\x02\x03\x00\x7f\xff\x80$*,.-+ eE#=:;\"'\t0123456789ABCDEFSTUNGOLkglt"
NASTY_NUMBERS = [b"", b"-", b"+", b".", b"-0", b"+-1", b"1e999", b"-1e999", b"1E-999", b"NaN", b"nan",
                 b"Infinity", b"-inf", b"sNaN", b"9" * 40, b"0" * 30, b"1_000", b"0x1F", b"1.2.3",
                 b"\xd9\xa3", b"\xef\xbc\x91", b"12\x0034", b"99999999999999999999999", b"-2147483649",
                 b"4294967296", b"1,5", b"  7  "]


# -- the parsers -----------------------------------------------------------------
def seed_frames(name: str, rng: random.Random, n: int = 300) -> list[bytes]:
    """Valid frames of one instrument, from its own simulator builders."""
    entry = INSTRUMENTS[name]
    frames = []
    for i in range(n):
        if entry.weight_frame is not None:
            shown = ScaleDisplay(net_kg=round(rng.uniform(-5, 350), rng.choice([0, 1, 2, 3])),
                                 tare_kg=round(rng.uniform(0, 5), 2), stable=rng.random() < 0.7,
                                 overload=rng.random() < 0.05, seq=i % 65536,
                                 uptime_ms=rng.randrange(2**30))
            frames.append(entry.weight_frame(shown, rng))
            if entry.command_reply is not None:
                frames.append(entry.command_reply(rng.choice(["read", "tare", "zero", None]), shown, rng))
        if entry.analysis_frame is not None:
            sample = MilkSample(density_g_ml=round(rng.uniform(1.0, 1.05), 4),
                                temp_c=round(rng.uniform(-2, 45), 1), compensated=rng.random() < 0.3,
                                fat_pct=round(rng.uniform(0, 9), 2), snf_pct=round(rng.uniform(5, 11), 2),
                                seq=i % 65536)
            frames.append(entry.analysis_frame(sample))
    return frames


class FrameGenerator:
    """Valid, mutated, spliced and random frames (fast: plain `random`)."""

    def __init__(self, seeds: list[bytes], rng: random.Random) -> None:
        self.seeds = seeds
        self.rng = rng

    def next(self) -> bytes:
        r = self.rng.random()
        if r < 0.10:
            return self.rng.choice(self.seeds)
        if r < 0.20:
            return self.rng.randbytes(self.rng.randrange(0, 80))
        if r < 0.27:
            return bytes(self.rng.choice(SPECIAL_BYTES) for _ in range(self.rng.randrange(1, 40)))
        if r < 0.40:
            a, b = self.rng.choice(self.seeds), self.rng.choice(self.seeds)
            return a[:self.rng.randrange(len(a) + 1)] + b[self.rng.randrange(len(b) + 1):]
        data = bytearray(self.rng.choice(self.seeds))
        for _ in range(self.rng.randrange(1, 5)):
            self._mutate(data)
        return bytes(data)

    def _mutate(self, data: bytearray) -> None:
        rng = self.rng
        n = len(data)
        op = rng.randrange(9)
        pos = rng.randrange(n + 1) if n else 0
        if op == 0 and n:
            data[min(pos, n - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            data[min(pos, n - 1)] = rng.randrange(256)
        elif op == 2:
            data.insert(pos, rng.choice(SPECIAL_BYTES))
        elif op == 3 and n:
            del data[min(pos, n - 1)]
        elif op == 4 and n:
            end = min(n, pos + rng.randrange(1, 8))
            data[pos:pos] = data[pos:end] * rng.randrange(1, 4)
        elif op == 5:
            del data[pos:]
        elif op == 6:
            # A run of digits (a number field) swapped for a nasty spelling.
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                start = end = rng.choice(digits)
                while start > 0 and data[start - 1] in b"0123456789.":
                    start -= 1
                while end < n and data[end] in b"0123456789.":
                    end += 1
                data[start:end] = rng.choice(NASTY_NUMBERS)
        elif op == 7:
            data[pos:pos] = rng.randbytes(rng.randrange(1, 6))
        else:
            other = rng.choice(self.seeds)
            data[pos:pos] = other[:rng.randrange(len(other) + 1)]


@dataclass
class ParserResult:
    name: str
    frames: int = 0
    bytes: int = 0
    seconds: float = 0.0
    events: Counter = field(default_factory=Counter)
    failures: list[tuple[str, bytes]] = field(default_factory=list)

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0.0
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.events.items()))
        return (f"fuzz {self.name:<9} {self.frames:>9,} frames {self.bytes / 1e6:6.1f} MB "
                f"{self.seconds:6.1f} s {rate:>8,.0f} frames/s  failures {len(self.failures)}  ({kinds})")


def _bad_event(event) -> str | None:
    """Why an event is not one a parser may give, or None."""
    if isinstance(event, ParserBug):
        return f"ParserBug {event.exception}"
    if not isinstance(event, EVENT_TYPES):
        return f"unknown event {type(event).__name__}"
    if is_dataclass(event):
        for f in fields(event):
            value = getattr(event, f.name)
            if isinstance(value, Decimal) and not value.is_finite():
                return f"non-finite {f.name} {value} in {type(event).__name__}"
    return None


def fuzz_parser(name: str, count: int, seed: int = 0, max_failures: int = 20) -> ParserResult:
    """Feed `count` generated frames to one parser, in random chunks, with a
    fresh parser now and then (and a flush at each end of input)."""
    rng = random.Random(f"{name}-{seed}")
    gen = FrameGenerator(seed_frames(name, rng), rng)
    result = ParserResult(name)
    parser = make_parser(name)
    recent: list[bytes] = []
    start = time.perf_counter()

    def check(events, data: bytes) -> None:
        for event in events:
            result.events[event.kind] += 1
            why = _bad_event(event)
            if why and len(result.failures) < max_failures:
                result.failures.append((why, bytes(getattr(event, "raw", b"")) or data))

    for i in range(count):
        frame = gen.next()
        result.frames += 1
        result.bytes += len(frame)
        recent.append(frame)
        try:
            if rng.random() < 0.2 and len(frame) > 1:
                cut = rng.randrange(1, len(frame))
                check(parser.feed(frame[:cut]), frame)
                check(parser.feed(frame[cut:]), frame)
            else:
                check(parser.feed(frame), frame)
            if i % 5000 == 4999:
                check(parser.flush(), frame)
                parser, recent = make_parser(name), []
        except Exception as exc:     # the failure this looks for: it would stop a station
            if len(result.failures) < max_failures:
                result.failures.append((f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}",
                                        b"".join(recent[-5:])))
            parser, recent = make_parser(name), []
        if len(recent) > 50:
            del recent[:25]
    try:
        check(parser.flush(), b"")
    except Exception as exc:
        result.failures.append((f"{exc.__class__.__name__} on flush: {exc}", b"".join(recent[-5:])))
    result.seconds = time.perf_counter() - start
    return result


def fuzz_parsers(count: int, names: list[str] | None = None, seed: int = 0,
                 out=sys.stdout) -> list[ParserResult]:
    results = []
    for name in names or list(INSTRUMENTS):
        result = fuzz_parser(name, count, seed)
        print(result.line(), file=out, flush=True)
        for why, raw in result.failures[:5]:
            print(f"  FAIL {why.splitlines()[0]}\n       bytes {raw[:120]!r}", file=out)
        results.append(result)
    return results


# -- the hub ---------------------------------------------------------------------
STATION_KIND_TOPICS = ("delivery", "tank/t1", "coldchain", "status", "shift")
NASTY_VALUES = [None, "", "x" * 5000, -1, 0, -0.0, 1e308, -1e308, 10**30, 2**63, -(2**63) - 1, True,
                [], {}, [1, "a", None], {"a": {"b": {"c": []}}}, "NaN", "1e999", "2026-13-45T99:00:00Z",
                "2026-11-27T06:00:00", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
                "2026-11-27T06:00:00+25:00", "\u0000", "\ud800", "ñandú °C", "../../etc", "A" * 65,
                "delivery/1", "tank/1", 3.5, "12.5", -40.0001, 120.0001, 100.0001]


def template_payloads(center: str, station: str, key: bytes, rng: random.Random) -> dict[str, dict]:
    """One valid payload per station topic kind (the delivery sealed with `key`)."""
    from milk_common import contract
    from milk_common.integrity import GENESIS, seal
    ts = "2026-11-20T06:%02d:%02d.000-05:00" % (rng.randrange(60), rng.randrange(60))
    delivery = seal(contract.delivery_payload(
        id="f" + "%015x" % rng.getrandbits(60), seq=1, center=center, station=station,
        producer="p001", ts=ts, liters=20.0, accepted=True, solids_pct=12.1, snf_pct=8.6,
        fat_pct=3.5, milk_temp_c=18.5, weight_kg=20.62, density_15c=1.031, flags=[],
        kind="delivery"), GENESIS, key)
    return {
        "delivery": delivery,
        "tank/t1": contract.tank_payload(center, station, "t1",
                                         [{"ts": ts, "temp_c": 4.5}, {"ts": ts, "temp_c": None}]),
        "coldchain": contract.coldchain_payload(center, station, "t1", ts, "break", "caliente",
                                                "warm_too_long"),
        "status": contract.status_payload(center, station, "online", {"scale": "connected"}, ts=ts),
        "shift": contract.shift_payload(center, station, "2026-11-20", "manana", ts, 10, 1, 200.5,
                                        12.1, {"alcohol_positive": 1}),
    }


class PayloadGenerator:
    """Malformed payloads for one topic kind: JSON-aware and byte-level."""

    def __init__(self, template: dict, rng: random.Random) -> None:
        self.template = template
        self.raw = json.dumps(template).encode()
        self.rng = rng

    def next(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.02:
            # Nested just around the decoders' depth limit, under a key the hub ignores.
            depth = rng.randrange(900, 1100)
            return self.raw[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
        if r < 0.05:
            return rng.choice([b"", b"null", b"[]", b"1", b'"x"', b"true", b"{", b"{}",
                               b'{"schema": null}', b"\xff\xfe\x00", b"[" * 10000 + b"]" * 10000,
                               b'{"a":' * 5000 + b"1" + b"}" * 5000])
        if r < 0.12:
            return rng.randbytes(rng.randrange(200))
        if r < 0.30:
            data = bytearray(self.raw)
            for _ in range(rng.randrange(1, 6)):
                op, n = rng.randrange(4), len(data)
                pos = rng.randrange(n) if n else 0
                if op == 0 and n:
                    data[pos] ^= 1 << rng.randrange(8)
                elif op == 1:
                    del data[pos:pos + rng.randrange(1, 12)]
                elif op == 2:
                    data.insert(pos, rng.choice(b'{}[]",:0123456789.-eE \\tfn'))
                else:
                    del data[pos:]
            return bytes(data)
        payload = json.loads(self.raw)
        for _ in range(rng.randrange(1, 4)):
            self._mutate_json(payload)
        try:
            return json.dumps(payload, allow_nan=rng.random() < 0.1).encode()
        except (ValueError, TypeError):
            return self.raw[:-1]

    def _mutate_json(self, payload: dict) -> None:
        rng = self.rng
        # A field of the payload, or of a nested object/list element.
        target, keys = payload, list(payload)
        if rng.random() < 0.3:
            nested = [v for v in payload.values() if isinstance(v, (dict, list)) and v]
            if nested:
                holder = rng.choice(nested)
                if isinstance(holder, list):
                    holder = holder[rng.randrange(len(holder))]
                if isinstance(holder, dict) and holder:
                    target, keys = holder, list(holder)
        if not keys:
            return
        key = rng.choice(keys)
        op = rng.random()
        if op < 0.2:
            del target[key]
        elif op < 0.85:
            value = rng.choice(NASTY_VALUES)
            target[key] = float("nan") if value == "NaN" and rng.random() < 0.5 else value
        elif op < 0.95:
            target["x" + str(rng.randrange(100))] = rng.choice(NASTY_VALUES)    # unknown keys pass
        else:
            # A long list, kept under about 1 MB (a station's message is far smaller).
            size = len(json.dumps(target[key], default=str)) + 1
            target[key] = [target[key]] * rng.randrange(2, max(3, min(20000, 1_000_000 // size)))


@dataclass
class HubResult:
    kind: str
    payloads: int = 0
    dead_letters: int = 0
    stored: int = 0
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.payloads / self.seconds if self.seconds else 0.0
        return (f"fuzz hub {self.kind:<10} {self.payloads:>7,} payloads {self.seconds:6.1f} s "
                f"{rate:>7,.0f}/s  dead letters {self.dead_letters:,} ({len(self.reasons)} reasons)  "
                f"stored {self.stored:,}  failures {len(self.failures)}")


def _store_with_watchdog(ingest, batch, timeout_s: float) -> str | None:
    """Run the ingest's check and store steps on a batch; a failure text if
    either raised (the check runs in the service's main loop, the store in its
    writer) or hung."""
    outcome: list[str] = []

    def work():
        try:
            ingest._store(ingest._check(batch))     # the ingest's path: check, then store
        except BaseException as exc:   # a crash of the running service
            outcome.append(f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}")

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        ingest.stop()        # ends a retry loop that would never finish
        worker.join(30)
        return f"stuck: a batch did not finish in {timeout_s:.0f} s"
    return outcome[0] if outcome else None


def fuzz_hub_in_process(influx_url: str, database: str, data_dir: Path, count: int, seed: int = 0,
                        batch_size: int = 500, out=sys.stdout) -> list[HubResult]:
    """`count` malformed payloads per topic kind through the ingest's store step."""
    from hub.config import HubConfig, HubInflux, HubIntegrity
    from hub.ingest.service import Ingest, Received
    from milk_common.contract import InvalidPayload, decode_station_message
    from milk_common.integrity import seal

    rng = random.Random(seed)
    center, station, key = "fuzz", "s1", b"fuzz-key-" * 4
    config = HubConfig(data_dir=str(data_dir), influx=HubInflux(url=influx_url, database=database),
                       integrity=HubIntegrity(require_signature=False))
    dead_path = Path(data_dir) / "dead_letters.jsonl"
    templates = template_payloads(center, station, key, rng)
    results = []
    for kind in STATION_KIND_TOPICS:
        topic = f"milk/v1/{center}/{station}/{kind}"
        gen = PayloadGenerator(templates[kind], rng)
        result = HubResult(kind.split("/")[0])
        expected: Counter = Counter()          # (topic, reason) the decoder gives
        ingest = Ingest(config)                # fresh counts per kind
        dead_offset = dead_path.stat().st_size if dead_path.exists() else 0
        start = time.perf_counter()
        for first in range(0, count, batch_size):
            batch = []
            for i in range(first, min(first + batch_size, count)):
                payload = gen.next()
                # Now and then a topic a station may not use (the broker's ACL
                # and the subscriptions keep them out; the decoder must too).
                where = topic if rng.random() > 0.03 else rng.choice(
                    [f"milk/v1/{center}/{station}/tank", f"milk/v1/{center}/{station}/bogus",
                     f"milk/v1/{center.upper()}/{station}/{kind}", f"milk/v1/{center}/{station}/{kind}/x/y"])
                try:
                    decode_station_message(where, payload)
                except InvalidPayload as exc:
                    # Whether a payload nested right at the depth limit decodes depends
                    # on how deep the caller's stack already is: the total check covers it.
                    if "nested too deeply" not in str(exc):
                        expected[(where, str(exc))] += 1
                except Exception as exc:          # the decoder itself must never raise otherwise
                    result.failures.append(f"decode_station_message raised {exc!r} on {payload[:200]!r}")
                batch.append(Received(0, i, 0, where, payload))
            failure = _store_with_watchdog(ingest, batch, 120)
            if failure:
                result.failures.append(failure)
                # The service would have died here: count what it did, start afresh.
                result.dead_letters += ingest.stats.dead_letters
                result.stored += ingest.stats.stored_messages
                ingest = Ingest(config)
        result.seconds = time.perf_counter() - start
        result.payloads = count
        result.dead_letters += ingest.stats.dead_letters
        result.stored += ingest.stats.stored_messages
        if result.dead_letters + result.stored != count and not result.failures:
            result.failures.append(f"{count} payloads but {result.dead_letters} dead letters and "
                                   f"{result.stored} stored")
        kept: Counter = Counter()
        with (dead_path.open("rb") if dead_path.exists() else open("/dev/null", "rb")) as fh:
            fh.seek(dead_offset)
            for raw in fh:
                letter = json.loads(raw)
                if not letter.get("reason"):
                    result.failures.append(f"dead letter without a reason: {raw[:200]!r}")
                kept[(letter["topic"], letter["reason"])] += 1
                result.reasons[letter["reason"].split(":")[0]] += 1
        missing = expected - kept
        if missing:
            result.failures.append(f"{sum(missing.values())} refused payloads not dead-lettered with "
                                   f"their reason, e.g. {next(iter(missing))}")
        print(result.line(), file=out, flush=True)
        for failure in result.failures[:3]:
            print(f"  FAIL {failure[:500]}", file=out)
        results.append(result)
    # The queue is not stuck: a good delivery after all that is stored.
    good = seal({**{k: v for k, v in templates["delivery"].items()
                    if k not in ("hash", "hmac", "receipt_code", "prev_hash")},
                 "id": "fuzzgood%08x" % rng.getrandbits(32), "seq": 999_999}, "0" * 64, key)
    failure = _store_with_watchdog(ingest, [Received(0, 1, 0, f"milk/v1/{center}/{station}/delivery",
                                                     json.dumps(good).encode())], 120)
    found = list(ingest.influx.query(f"SELECT id FROM delivery WHERE id = '{good['id']}'"))
    sentinel = HubResult("good-after")
    sentinel.payloads = 1
    sentinel.stored = len(found)
    if failure or len(found) != 1:
        sentinel.failures.append(failure or "the good delivery after the garbage was not stored")
    print(f"fuzz hub good delivery after the garbage: {'stored' if len(found) == 1 else 'NOT STORED'}",
          file=out, flush=True)
    results.append(sentinel)
    return results


def fuzz_hub_through_broker(servers, count: int, work_dir: Path, seed: int = 0,
                            out=sys.stdout) -> HubResult:
    """`count` malformed payloads per topic kind published to the real broker
    as a provisioned station, to a real `milk-hub ingest` process; then a good
    delivery, which must be stored, with the hub still running."""
    import subprocess
    import uuid

    from devtools.fixtures import write_hub_config
    from devtools.servers import REPO
    from hub.store.influx import InfluxV1
    from milk_common.integrity import GENESIS, seal

    rng = random.Random(seed + 1)
    unique = "fz" + uuid.uuid4().hex[:8]
    work_dir.mkdir(parents=True, exist_ok=True)
    config = write_hub_config(work_dir / "hub.toml", mqtt_port=servers.mqtt_port,
                              influx_url=servers.influxdb.url, database=unique,
                              client_id=f"hub-{unique}", data_dir=work_dir / "hub-data")
    log = open(work_dir / "hub.log", "ab")
    hub = subprocess.Popen([sys.executable, "-m", "hub", "ingest", "--config", str(config)],
                           stdout=log, stderr=log, cwd=REPO)
    access = servers.provision_station(unique, "s1")
    client = servers.mqtt_client(access)
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    result = HubResult("broker")
    start = time.perf_counter()
    status_path = work_dir / "hub-data" / "ingest-status.json"
    influx = InfluxV1(servers.influxdb.url, unique)
    try:
        # Published before the hub's session exists, the garbage would go nowhere.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                status_path.exists() and json.loads(status_path.read_text() or "{}").get("connected")):
            time.sleep(0.2)
        time.sleep(1.0)          # its subscriptions follow the connection
        templates = template_payloads(unique, "s1", access.key, rng)
        infos = []
        for kind in STATION_KIND_TOPICS:
            gen = PayloadGenerator(templates[kind], rng)
            for _ in range(count):
                infos.append(client.publish(f"milk/v1/{unique}/s1/{kind}", gen.next(), qos=1))
                result.payloads += 1
        good = seal({**{k: v for k, v in templates["delivery"].items()
                        if k not in ("hash", "hmac", "receipt_code", "prev_hash")},
                     "id": "fuzzgood%08x" % rng.getrandbits(32), "seq": 1}, GENESIS, access.key)
        infos.append(client.publish(f"milk/v1/{unique}/s1/delivery", json.dumps(good), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        deadline = time.monotonic() + 120
        stored = []
        while time.monotonic() < deadline and not stored:
            try:
                stored = list(influx.query(f"SELECT id FROM delivery WHERE id = '{good['id']}'"))
            except Exception:
                pass
            if hub.poll() is not None:
                break
            time.sleep(0.5)
        if hub.poll() is not None:
            result.failures.append(f"the hub process died (exit {hub.returncode}): see {work_dir / 'hub.log'}")
        if not stored:
            result.failures.append("the good delivery after the garbage was not stored")
        time.sleep(2.5)          # the status file is written every 2 s
        stats = json.loads(status_path.read_text()) if status_path.exists() else {}
        result.dead_letters = stats.get("dead_letters", 0)
        result.stored = stats.get("stored_messages", 0)
        dead_path = work_dir / "hub-data" / "dead_letters.jsonl"
        for raw in dead_path.read_bytes().splitlines() if dead_path.exists() else []:
            reason = json.loads(raw).get("reason") or ""
            if not reason:
                result.failures.append(f"dead letter without a reason: {raw[:200]!r}")
            result.reasons[reason.split(":")[0]] += 1
        if result.dead_letters + result.stored < result.payloads + 1 and not result.failures:
            result.failures.append(f"{result.payloads + 1} published, {result.dead_letters} dead letters, "
                                   f"{result.stored} stored")
    finally:
        result.seconds = time.perf_counter() - start
        stop_loop(client)
        client.disconnect()
        if hub.poll() is None:
            hub.terminate()
            try:
                hub.wait(15)
            except subprocess.TimeoutExpired:
                hub.kill()
        log.close()
        try:
            influx.drop_database()
        except Exception:
            pass
    print(result.line(), file=out, flush=True)
    for failure in result.failures[:3]:
        print(f"  FAIL {failure[:500]}", file=out)
    return result


def run_hub(count: int, broker_count: int, seed: int) -> bool:
    import shutil
    import tempfile

    from devtools.servers import REPO, Servers, ensure_installed, free_port
    from hub.store.influx import InfluxV1
    ensure_installed(quiet=True)
    run_dir = REPO / ".run" / f"fuzz-{int(time.time())}"
    servers = Servers(run_dir, free_port(), free_port())
    servers.start()
    work = Path(tempfile.mkdtemp(prefix="milk-fuzz-"))
    ok = True
    try:
        database = "fuzz_" + str(int(time.time()))
        results = fuzz_hub_in_process(servers.influxdb.url, database, work / "hub", count, seed)
        InfluxV1(servers.influxdb.url, database).drop_database()
        ok = not any(r.failures for r in results)
        if broker_count:
            ok = not fuzz_hub_through_broker(servers, broker_count, work / "broker", seed).failures and ok
    finally:
        servers.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=["all", "parsers", "hub"], default="all")
    parser.add_argument("--count", type=int, help="frames per parser (1,000,000) or payloads per "
                        "topic kind (10,000)")
    parser.add_argument("--broker-count", type=int, default=300,
                        help="payloads per topic kind through the real broker (0: skip)")
    parser.add_argument("--format", action="append", choices=list(INSTRUMENTS),
                        help="only this parser (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # The parsers log a ParserBug and the ingest every dead letter: millions
    # of lines here. Failures are printed below instead.
    logging.disable(logging.ERROR)
    ok = True
    if args.what in ("all", "parsers"):
        results = fuzz_parsers(args.count or 1_000_000, args.format, args.seed)
        ok = not any(r.failures for r in results)
    if args.what in ("all", "hub"):
        ok = run_hub(args.count or 10_000, args.broker_count, args.seed) and ok
    print("fuzz: " + ("no failures" if ok else "FAILURES (above)"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
