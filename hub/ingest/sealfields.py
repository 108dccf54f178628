"""The seal's values of a delivery, read straight from the message's bytes.

The seal (docs/seal.md, milk_common/integrity.py) is defined over the JSON
object as the station sent it: a number written `15` and one written `15.0`
hash the same only because the spec says how each value is canonicalised,
`ts_ms` wins over `ts` when a record carries it, a missing `kind` counts as
`"delivery"`. Rebuilding those values from the validated DeliveryV1 would
be a second, subtly different reading of the spec. Instead msgspec reads
only the keys the seal looks at, each kept as the JSON value it is (`Any`),
and the rest of the object is skipped without building it: a few
microseconds, where `json.loads` of the whole payload cost about as much
as the whole validation. The result is the mapping `check_seal` and
`record_hash` take, so the spec's reference code does the hashing.
"""

from __future__ import annotations

from hashlib import sha256
from json.encoder import encode_basestring
from typing import Any, Mapping

import msgspec

from milk_common.integrity import CORE_BY_VERSION, seal_version, ts_ms

UNSET = msgspec.UNSET


class SealFields(msgspec.Struct, forbid_unknown_fields=False):
    """The keys of a delivery the seal, its check and the chain read."""
    id: Any = UNSET
    seq: Any = UNSET
    kind: Any = UNSET
    refers_to: Any = UNSET
    center: Any = UNSET
    station: Any = UNSET
    producer: Any = UNSET
    ts: Any = UNSET
    ts_ms: Any = UNSET
    weight_kg: Any = UNSET
    liters: Any = UNSET
    solids_pct: Any = UNSET
    fat_pct: Any = UNSET
    milk_temp_c: Any = UNSET
    accepted: Any = UNSET
    reject_reason: Any = UNSET
    prev_hash: Any = UNSET
    hash: Any = UNSET
    hmac: Any = UNSET
    epoch: Any = UNSET
    operator: Any = UNSET
    seal: Any = UNSET


_DECODER = msgspec.json.Decoder(SealFields)
_FIELDS = SealFields.__struct_fields__


def seal_record(payload: bytes) -> dict:
    """The seal's keys present in a delivery payload, with their JSON values
    (a missing key stays missing, as in the object the station sent).

    Called after the payload passed DeliveryV1's validation, so it is a JSON
    object; raises msgspec.DecodeError otherwise."""
    fields = _DECODER.decode(payload)
    return {name: value for name in _FIELDS
            if (value := getattr(fields, name)) is not UNSET}


# The canonical text's keys in code-point order, and how each is written
# (docs/seal.md §1-3, docs/seal-2.md); milk_common.integrity is the reference.
_KEY_TEXT = {version: tuple((name, kind, ("{" if i == 0 else ",") + encode_basestring(name) + ":")
                            for i, (name, kind) in enumerate(sorted(fields)))
             for version, fields in CORE_BY_VERSION.items()}


def seal_hash(record: Mapping[str, object]) -> str:
    """`milk_common.integrity.record_hash`, written for speed: the canonical
    text is assembled directly in key order, strings escaped by the very
    function `json.dumps(..., ensure_ascii=False)` uses, so the bytes are the
    same (tests/test_ingest_fast.py compares the two on random and odd
    records). The reference copies the record, canonicalises into a dict
    and sorts it: four times the time, at thousands of deliveries a second."""
    parts = []
    append = parts.append
    # seal_version raises UnknownSeal (a ValueError) for a version it does not know.
    for name, kind, key_text in _KEY_TEXT[seal_version(record)]:
        if name == "ts_ms":
            value = record.get("ts_ms", UNSET)
            if value is UNSET:
                ts = record.get("ts")
                value = None if ts is None else ts_ms(ts)
        elif name == "kind":
            value = record.get("kind", "delivery")
        else:
            value = record.get(name)
        append(key_text)
        if value is None or value == "":
            append("null")
        elif kind == "num":
            append(f'"{float(value)!r}"')
        elif kind == "int":
            append(str(int(value)))
        elif kind == "bool":
            append("true" if value else "false")
        else:
            append(encode_basestring(str(value)))
    append("}")
    return sha256("".join(parts).encode("utf-8")).hexdigest()
