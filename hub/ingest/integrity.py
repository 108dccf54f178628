"""The hub's check of delivery seals: on ingest, and over what InfluxDB holds.

On ingest a delivery whose values do not match its hash, or whose signature
does not match its station's key, is refused (kept as a dead letter) and
raises an integrity alert. The chain is checked across messages by sequence
number: a record whose predecessor's hash differs from its `prev_hash`
means something was removed or altered at the station; it is stored (its
own seal is good) and alerted on. `milk-hub verify` recomputes every
stored delivery's hash from InfluxDB's fields, so an edit there shows too.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from milk_common.integrity import UnknownSeal, sealed_ts_ms, signature_ok, ts_ms

from hub.config import HubIntegrity
from hub.ingest.chain import IDS_TABLE, check_batch
from hub.ingest.jsonlines import append_lines
from hub.ingest.sealfields import seal_hash
from hub.store.influx import rfc3339_ns
from hub.security.keys import StationKeys
from milk_common.sqlite_wal import use_wal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    center: str
    station: str
    seq: int | None
    id: str | None
    problem: str           # hash | signature | unsigned | no_key | revoked | seq_reused | id_reused
                           # | chain | ts_mismatch | ts_ms_key | duplicate_id | time_not_sealed
    detail: str
    # `verify` only: the InfluxDB point it is about (its time; priced with --pricing).
    point: dict | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict:
        out = {"center": self.center, "station": self.station, "seq": self.seq, "id": self.id,
               "problem": self.problem, "detail": self.detail}
        if self.point is not None and self.point.get("time") is not None:
            out["time"] = rfc3339_ns(int(self.point["time"]))
        return out


def check_seal(record: dict, settings: HubIntegrity, keys: StationKeys | None = None) -> Finding | None:
    """The seal of one delivery record (its own values and signature).

    `keys` (hub/security/keys.py) adds the key store and its revocations to
    the inline keys of `settings`; a record stamped at or after its
    station's revocation is refused even when its signature is right."""
    center, station = record.get("center", ""), record.get("station", "")
    where = dict(center=center, station=station, seq=record.get("seq"), id=record.get("id"))
    revoked_at = None
    if keys is not None:
        found = keys.lookup(center, station)
        key, revoked_at = (found.key, found.revoked_at) if found else (None, None)
    else:
        key = settings.key_for(center, station)
    if revoked_at is not None and _stamped_at_or_after(record, revoked_at):
        return Finding(**where, problem="revoked",
                       detail=f"signed after the station's key was revoked ({revoked_at.isoformat()})")
    if not record.get("hash"):
        if settings.require_signature or key is not None:
            return Finding(**where, problem="unsigned", detail="the delivery carries no seal")
        return None
    try:
        digest = seal_hash(record)              # record_hash, faster (sealfields.py)
    except UnknownSeal as exc:
        return Finding(**where, problem="hash", detail=str(exc))
    if digest != record["hash"]:
        return Finding(**where, problem="hash", detail="the values do not match the record's hash")
    if key is None:
        if settings.require_signature:
            return Finding(**where, problem="no_key", detail=f"no key for station {center}/{station}")
        return None
    if not signature_ok(record["hash"], record.get("hmac", ""), key):
        return Finding(**where, problem="signature", detail="the signature does not match the station's key")
    return None


def sealed_time_finding(record: dict, ts: datetime, from_ts: int | None = None) -> Finding | None:
    """Whether the delivery's `ts` is the time its seal covers (`ts_ms`).

    The point's time in InfluxDB is the sealed `ts_ms`, so a copy that only
    moves `ts` cannot become a new point; and a record whose `ts` says
    another time than its seal is refused. Stations stamp whole
    milliseconds, so a `ts` with digits below the millisecond is not one
    they sealed, and a `ts_ms` key the record carries must be its `ts`.
    `from_ts`: ts_ms(ts) when the caller has it already."""
    where = dict(center=record.get("center", ""), station=record.get("station", ""),
                 seq=record.get("seq"), id=record.get("id"))
    if from_ts is None:
        from_ts = ts_ms(ts)
    if "ts_ms" in record:
        carried = record["ts_ms"]
        if isinstance(carried, bool) or not isinstance(carried, int) or carried != from_ts:
            return Finding(**where, problem="ts_ms_key",
                           detail="it carries a ts_ms that is not its ts: the time was moved")
    if ts.microsecond % 1000:
        return Finding(**where, problem="ts_mismatch",
                       detail="its ts is not the time it was sealed at (digits below the millisecond)")
    return None


def _stamped_at_or_after(record: dict, moment: datetime) -> bool:
    try:
        stamp = sealed_ts_ms(record)
    except (KeyError, TypeError, ValueError):
        return True     # no usable time: it cannot show it was sealed before
    return stamp >= ts_ms(moment)


class ChainWatch:
    """Links between the deliveries a station sent, by sequence number (SQLite).

    One chain per station database (`epoch`, docs/recovery.md): a reinstalled
    station starts again at seq 1 with a new epoch, which is neither a reused
    sequence number nor a broken link. Records may come in any order (a
    replay after a broker crash): each is checked against both neighbours
    already known, and an identical re-send is no finding."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # timeout: hubs sharing a data folder (docs/scaling.md) wait for each other.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=60)
        use_wal(self._db)
        # A batch reads a few pages around its seqs: a small cache keeps the hub lean.
        self._db.execute("PRAGMA cache_size=-512")
        self._db.execute("""CREATE TABLE IF NOT EXISTS links (
            center TEXT NOT NULL, station TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
            hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
            PRIMARY KEY (center, station, epoch, seq))""")
        self._db.execute(IDS_TABLE)
        old = self._db.execute("SELECT name FROM sqlite_master WHERE name = 'chain'").fetchone()
        if old:   # the table before epochs: its records had none
            self._db.executescript("""BEGIN;
                INSERT OR IGNORE INTO links SELECT center, station, '', seq, hash, prev_hash FROM chain;
                DROP TABLE chain; COMMIT;""")

    def observe_batch(self, records: list[dict]) -> list[Finding]:
        """`check_batch`'s findings alone."""
        return self.check_batch(records)[0]

    def check_batch(self, records: list[dict]) -> tuple[list[Finding], dict[int, str]]:
        """Record a batch of sealed deliveries in one transaction (one disk
        sync, not one per record): the findings, as `observe` on each in
        turn, and the records to refuse, {position: why} (a known id with
        other content: hub/ingest/chain.py). BEGIN IMMEDIATE: hubs sharing
        the file check their batches one after the other, so two neighbours
        handled by two hubs at once still meet."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                found, refused = check_batch(self._db, records)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [Finding(*f) for f in found], refused

    def observe(self, record: dict) -> list[Finding]:
        """Record a sealed delivery; findings when it contradicts its neighbours."""
        return self.observe_batch([record])


class IntegrityLog:
    """Integrity findings kept as JSON lines (and counted by the ingest status)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def keep(self, findings: list[Finding]) -> None:
        if not findings:
            return
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for f in findings:
            log.error("integrity: %s/%s seq %s: %s", f.center, f.station, f.seq, f.detail)
        append_lines(self.path, "".join(json.dumps({"at": at, **f.to_json()}, ensure_ascii=False) + "\n"
                                        for f in findings))


def verify_points(rows, settings: HubIntegrity, keys: StationKeys | None = None) -> list[Finding]:
    """Check deliveries read back from InfluxDB (dicts of fields and tags, time in ns).

    Finds, whoever wrote the points (through the hub or straight into
    InfluxDB): a point whose values or time do not match its seal (`hash`,
    `signature`, ...: the point's time is the sealed `ts_ms`, so a moved
    point fails its hash); a point stored at a time with digits below the
    millisecond, which no seal covers (`time_not_sealed`); every point beyond
    the first of a delivery id (`duplicate_id`: one id is one delivery, paid
    once); and chain breaks between neighbours."""
    findings: list[Finding] = []
    by_station: dict[tuple[str, str, str], list[dict]] = {}
    by_id: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        record = dict(row)
        time_ns = int(record.pop("time"))
        record["ts_ms"] = time_ns // 1_000_000
        point = {**row, "time": time_ns}
        where = dict(center=record.get("center", ""), station=record.get("station", ""),
                     seq=record.get("seq"), id=record.get("id"))
        finding = check_seal(record, settings, keys)
        if finding:
            findings.append(replace(finding, point=point))
        if time_ns % 1_000_000:
            findings.append(Finding(**where, problem="time_not_sealed", point=point,
                                    detail="stored at a time below the millisecond: not the time it was sealed at"))
        by_id.setdefault((where["center"], where["station"], str(where["id"])), []).append(
            {"point": point, "sound": finding is None and not time_ns % 1_000_000})
        # One chain per station database: a new epoch starts again at seq 1.
        by_station.setdefault((record["center"], record["station"], record.get("epoch") or ""),
                              []).append(record)
    for (center, station, ident), points in by_id.items():
        if len(points) < 2:
            continue
        # The one kept is a sound point (seal and time right), the earliest such.
        points.sort(key=lambda p: (not p["sound"], p["point"]["time"]))
        for extra in points[1:]:
            point = extra["point"]
            findings.append(Finding(center, station, point.get("seq"), ident, "duplicate_id",
                                    f"{len(points)} points carry this delivery id: paid "
                                    f"{len(points)} times", point))
    for (center, station, _epoch), records in by_station.items():
        records.sort(key=lambda r: int(r["seq"]))
        for prev, cur in zip(records, records[1:]):
            if int(cur["seq"]) == int(prev["seq"]) + 1 and cur.get("hash") and \
                    cur.get("prev_hash") != prev.get("hash"):
                findings.append(Finding(center, station, int(cur["seq"]), cur.get("id"), "chain",
                                        f"does not follow record {prev['seq']}"))
    return findings
