"""Plausible hub data for the dashboard's tests and screenshots, stored with the
hub's own code: station payloads (sealed as a station seals them) decoded by
the contract, turned into line protocol by `hub.store.points` and written
to a real InfluxDB; alerts opened by `hub.alerts.engine` from the same
cold-chain messages.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from milk_common.contract import (
    coldchain_payload, decode_station_message, delivery_payload, station_topic, status_payload,
    tank_payload,
)
from milk_common.integrity import GENESIS, seal

from hub.alerts.engine import AlertEngine, AlertSettings
from hub.alerts.store import AlertStore
from hub.ingest.integrity import ChainWatch, IntegrityLog
from hub.store.influx import InfluxV1
from hub.store.points import points

KEY = b"dashboard-test-station-key-0001"


@dataclass
class Written:
    """What was written, for a test to compare with what the page shows."""

    deliveries: list[dict] = field(default_factory=list)


def _store(influx: InfluxV1, topic: str, payload: dict) -> None:
    message = decode_station_message(topic, json.dumps(payload).encode())
    influx.write(points(message))


def write_deliveries(influx: InfluxV1, center: str, station: str, start: datetime, days: int,
                     producers: list[str], *, seed: int = 1, reject_every: int = 23,
                     written: Written | None = None, first_seq: int = 1) -> Written:
    """Two milkings a day for `days` days from `start` (aware, local midnight), one can
    per producer each time; about one in `reject_every` rejected (alcohol test)."""
    written = written or Written()
    rng = random.Random(seed)
    prev, seq = GENESIS, first_seq
    topic = station_topic(center, station, "delivery")
    batch = []
    for day in range(days):
        for hour, minute in ((6, 0), (16, 30)):
            t = start + timedelta(days=day, hours=hour, minutes=minute)
            for producer in producers:
                t += timedelta(seconds=rng.randint(40, 150))
                liters = round(rng.uniform(5.0, 40.0), 2)
                accepted = rng.randrange(reject_every) != 0
                record = delivery_payload(
                    id=f"{center}-{station}-{seq}", seq=seq, kind="delivery", refers_to=None,
                    center=center, station=station, producer=producer, ts=t.isoformat(),
                    liters=liters, weight_kg=round(liters * 1.031, 2), accepted=accepted,
                    solids_pct=round(rng.gauss(11.9, 0.5), 2) if accepted else None,
                    milk_temp_c=round(rng.uniform(14, 24), 1),
                    reject_reason=None if accepted else "alcohol")
                sealed = seal(record, prev, KEY)
                prev, seq = sealed["hash"], seq + 1
                written.deliveries.append(sealed)
                batch.extend(points(decode_station_message(topic, json.dumps(sealed).encode())))
    influx.write(batch)
    return written


def write_tank(influx: InfluxV1, center: str, station: str, tank: str, end: datetime, *,
               hours: float = 24, broken: bool = False, step_min: float = 2.0, seed: int = 1) -> None:
    """A tank's last `hours` of samples up to `end`: morning and afternoon additions
    cooled back to ~3.8 °C; `broken` makes the afternoon's cooling fail (a break)."""
    rng = random.Random(seed)
    samples, t, temp = [], end - timedelta(hours=hours), 3.8
    while t <= end:
        hour = t.hour + t.minute / 60
        if any(abs(hour - h) < step_min / 120 for h in (6.6, 17.0)):
            temp = 11.0 + rng.uniform(-0.5, 0.5)                      # warm milk added
        elif broken and hour >= 17.0 and t.date() == end.date():
            temp = min(temp + 0.02, 14.0)                            # the compressor stopped
        else:
            temp = max(3.8, temp - (temp - 3.5) * 0.06)
        samples.append({"ts": t.isoformat(), "temp_c": round(temp + rng.uniform(-0.1, 0.1), 2)})
        t += timedelta(minutes=step_min)
    topic = station_topic(center, station, "tank", tank)
    for i in range(0, len(samples), 500):
        _store(influx, topic, tank_payload(center, station, tank, samples[i:i + 500]))


def coldchain(center: str, station: str, tank: str, at: datetime, state: str, reason: str) -> tuple[str, dict]:
    return (station_topic(center, station, "coldchain"),
            coldchain_payload(center, station, tank, at.isoformat(), state, reason, reason_code=""))


def write_coldchain(influx: InfluxV1, engine: AlertEngine | None, center: str, station: str, tank: str,
                    at: datetime, state: str, reason: str = "") -> None:
    """A cold-chain state change, stored and (with an engine) seen by the alert rules."""
    topic, payload = coldchain(center, station, tank, at, state, reason)
    _store(influx, topic, payload)
    if engine is not None:
        engine.observe(topic, json.dumps(payload).encode(), now=at)


def write_status(influx: InfluxV1, center: str, station: str, status: str, at: datetime) -> None:
    _store(influx, station_topic(center, station, "status"),
           status_payload(center, station, status, ts=at.isoformat()))


def alert_engine(data_dir: Path) -> AlertEngine:
    """The hub's alert rules over the alert store of `data_dir`, without channels."""
    return AlertEngine(AlertStore(Path(data_dir) / "alerts.sqlite3"), AlertSettings(), [])


def seed_fortnight(influx: InfluxV1, center: str, hub_data: Path, tz) -> Written:
    """The dashboard tests' scene for period 2026-11-1: two benches (14 producers),
    one delivery of the next fortnight, two tanks (banco1's broken, with its open
    alert; banco2's cold), banco1 online and banco2 offline."""
    start = datetime(2026, 11, 1, tzinfo=tz)
    written = write_deliveries(influx, center, "banco1", start, 15, [f"p{i:03d}" for i in range(1, 9)], seed=1)
    write_deliveries(influx, center, "banco2", start, 15, [f"p{i:03d}" for i in range(9, 15)], seed=2,
                     written=written)
    # A delivery of the next fortnight must not count in this one.
    write_deliveries(influx, center, "banco2", datetime(2026, 11, 16, tzinfo=tz), 1, ["p009"], seed=3,
                     first_seq=10_000)
    end = datetime(2026, 11, 15, 20, 0, tzinfo=tz)
    write_tank(influx, center, "banco1", "tanque1", end, broken=True)
    write_tank(influx, center, "banco2", "tanque1", end, seed=2)
    engine = alert_engine(hub_data)
    try:
        write_coldchain(influx, engine, center, "banco1", "tanque1", end - timedelta(hours=2, minutes=45),
                        "break", "más de 15 min sobre 6 °C")
        write_coldchain(influx, engine, center, "banco2", "tanque1", end - timedelta(hours=2), "cold",
                        "llegó a 4 °C")
    finally:
        engine.store.close()
    write_status(influx, center, "banco1", "online", end)
    write_status(influx, center, "banco2", "offline", end)
    # A delivery voided at the bench: neither it nor the void counts (as in the statement).
    banco1 = [d for d in written.deliveries if d["station"] == "banco1"]
    write_void(influx, banco1[2], after=banco1[-1], at=end - timedelta(hours=1), written=written)
    chain_break(hub_data, written.deliveries[-3], written.deliveries[-2])
    producer_registry(hub_data, {f"p{i:03d}": name for i, name in enumerate(NAMES, start=1)})
    # banco1 says it holds 5 deliveries more than the hub stored (still in its outbox).
    for station, extra in (("banco1", 5), ("banco2", 0)):
        seqs = [d["seq"] for d in written.deliveries if d["station"] == station]
        recovery_index(hub_data, center, station, seqs, max(seqs) + extra)
    return written


NAMES = ["Rosa Quispe", "Juan Mamani", "Elena Huamán", "Pedro Condori", "Lucía Flores", "Mario Chávez",
         "Ana Ccori", "Luis Apaza", "Carmen Vargas", "José Ramos", "Marta Cruz", "Hugo Paucar",
         "Sonia Ticona", "Félix Gutiérrez"]


def producer_registry(hub_data: Path, names: dict[str, str]) -> None:
    """The hub's producer registry (`milk-hub producers import`) with these names."""
    from milk_common.contract.registry import Producer

    from hub.producers.registry import ProducerRegistry, registry_path
    registry = ProducerRegistry(registry_path(hub_data))
    try:
        registry.import_producers([Producer(code, name) for code, name in names.items()], [])
    finally:
        registry.close()


def recovery_index(hub_data: Path, center: str, station: str, stored_seqs: list[int], last_seq: int) -> None:
    """What the ingest's recovery index learns from a station's status (`last_seq`)
    and its stored deliveries (hub/recovery/index.py)."""
    import time

    from hub.recovery.index import SeqIndex
    from hub.recovery.watch import INDEX_FILE
    index = SeqIndex(Path(hub_data) / INDEX_FILE)
    try:
        index.update([(center, station, "e1", "delivery", seq) for seq in stored_seqs],
                     [(center, station, "e1", True, last_seq, None)], time.time())
    finally:
        index.close()


def write_void(influx: InfluxV1, original: dict, *, after: dict, at: datetime, written: Written) -> dict:
    """The station's void record of `original`, next in the chain after `after`."""
    record = {k: v for k, v in original.items() if k not in ("prev_hash", "hash", "hmac", "receipt_code")}
    record.update(id=f"{original['id']}-void", seq=after["seq"] + 1, kind="void", refers_to=original["id"],
                  ts=at.isoformat(), note="anulada en la balanza")
    sealed = seal(record, after["hash"], KEY)
    _store(influx, station_topic(original["center"], original["station"], "delivery"), sealed)
    written.deliveries.append(sealed)
    return sealed


def chain_break(hub_data: Path, before: dict, after: dict) -> None:
    """The ingest's chain watch sees `after` re-sealed on a history that is not
    `before`'s (a record removed at the station) and keeps the finding."""
    watch = ChainWatch(Path(hub_data) / "chain.sqlite3")
    watch.observe(before)
    forged = seal({k: v for k, v in after.items() if k not in ("prev_hash", "hash", "hmac", "receipt_code")},
                  "f" * 64, KEY)
    IntegrityLog(Path(hub_data) / "integrity.jsonl").keep(watch.observe({**forged, "seq": before["seq"] + 1}))
