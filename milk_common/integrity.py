"""Tamper-evident delivery records: a hash chain signed with the station's key.

Each record's hash covers its core values *and the previous record's hash*,
so changing, removing or reordering any stored delivery breaks every link
after it; the station signs each hash with an HMAC key from its config, so
nobody without the key can forge a consistent chain. The station and the
hub compute the same canonical form (this module), and the hub can
recompute it from what InfluxDB holds, so an edit there is caught too.

The core is what a payment depends on, and with seal/2 where the record
sits (its station database's epoch) and who recorded it. Numbers are canonicalised through
float repr (InfluxDB returns 18.0 as 18), times as epoch milliseconds (the
offset is presentation; the instant is what counts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping

GENESIS = "0" * 64

# (name, kind): kind says how the value is canonicalised.
CORE_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "str"), ("seq", "int"), ("kind", "str"), ("refers_to", "str"),
    ("center", "str"), ("station", "str"), ("producer", "str"), ("ts_ms", "int"),
    ("weight_kg", "num"), ("liters", "num"), ("solids_pct", "num"), ("fat_pct", "num"),
    ("milk_temp_c", "num"), ("accepted", "bool"), ("reject_reason", "str"),
    ("prev_hash", "str"),
)
# seal/2 (docs/seal-2.md) also covers the station database's `epoch` (where
# the record sits: its chain) and the `operator` who recorded it. A record
# says it is sealed so with `"seal": "seal/2"`; without the key it is seal/1.
SEAL_1, SEAL_2 = "seal/1", "seal/2"
CORE_FIELDS_2: tuple[tuple[str, str], ...] = CORE_FIELDS + (("epoch", "str"), ("operator", "str"))
CORE_BY_VERSION = {SEAL_1: CORE_FIELDS, SEAL_2: CORE_FIELDS_2}


class UnknownSeal(ValueError):
    """A record names a seal version this code does not know."""


def seal_version(record: Mapping[str, object]) -> str:
    """The record's seal version: its `seal` key, seal/1 when absent."""
    version = record.get("seal")
    if version is None:
        return SEAL_1
    if version not in CORE_BY_VERSION:
        raise UnknownSeal(f"unknown seal version {version!r}")
    return str(version)


def core_fields(record: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    return CORE_BY_VERSION[seal_version(record)]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ts_ms(ts: str | datetime) -> int:
    """Epoch milliseconds (floored, exact) of an ISO 8601 time with offset."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        raise ValueError("a record time must carry its UTC offset")
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def _canonical_value(value: object, kind: str) -> object:
    if value is None or value == "":
        return None
    if kind == "num":
        return repr(float(value))
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def core_of(record: Mapping[str, object]) -> dict:
    """The hashed part of a delivery record (missing keys count as null)."""
    values = dict(record)
    if "ts_ms" not in values and values.get("ts") is not None:
        values["ts_ms"] = ts_ms(values["ts"])
    values.setdefault("kind", "delivery")
    return {name: _canonical_value(values.get(name), kind) for name, kind in core_fields(record)}


def record_hash(record: Mapping[str, object]) -> str:
    text = json.dumps(core_of(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign(hash_hex: str, key: bytes) -> str:
    return hmac.new(key, hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def signature_ok(hash_hex: str, signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(hash_hex, key), signature or "")


def receipt_code(hash_hex: str) -> str:
    """Short code printed on the receipt and the statement: `A1B2-C3D4`."""
    return f"{hash_hex[:4]}-{hash_hex[4:8]}".upper()


def parse_key(text: str) -> bytes:
    """An HMAC key from config: hex (at least 32 hex digits) or plain text of 16+ characters."""
    text = text.strip()
    try:
        key = bytes.fromhex(text)
        if len(key) >= 16:
            return key
    except ValueError:
        pass
    if len(text) < 16:
        raise ValueError("an HMAC key needs at least 16 characters (or 32 hex digits)")
    return text.encode("utf-8")


def sealed_ts_ms(record: Mapping[str, object]) -> int:
    """The time the seal covers: `ts_ms` when the record carries it, else from `ts`."""
    if record.get("ts_ms") is not None:
        return int(record["ts_ms"])
    return ts_ms(record["ts"])


def seal(record: dict, prev_hash: str, key: bytes) -> dict:
    """Add prev_hash, hash, hmac and receipt_code to a record (a new dict);
    the version is the record's `seal` key (seal/1 without it)."""
    sealed = {**record, "prev_hash": prev_hash}
    digest = record_hash(sealed)
    sealed.update(hash=digest, hmac=sign(digest, key), receipt_code=receipt_code(digest))
    return sealed


def first_broken_link(records: Iterable[Mapping[str, object]], key: bytes | None,
                      expect_start_seq: int = 1) -> tuple[int, str] | None:
    """Walk a station's records in seq order; (seq, reason) of the first bad one.

    Reasons: `hash` (values changed), `signature` (hash re-made without the
    key), `link` (a record removed, inserted or reordered), `sequence` (a gap).
    """
    prev = GENESIS
    expected_seq = expect_start_seq
    for rec in records:
        seq = int(rec.get("seq", -1))
        if seq != expected_seq:
            return expected_seq, "sequence"
        if rec.get("prev_hash") != prev:
            return seq, "link"
        if record_hash(rec) != rec.get("hash"):
            return seq, "hash"
        if key is not None and not signature_ok(str(rec.get("hash")), str(rec.get("hmac", "")), key):
            return seq, "signature"
        prev = str(rec["hash"])
        expected_seq += 1
    return None
