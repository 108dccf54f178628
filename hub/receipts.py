"""A receipt code looked up in the hub's data: what a producer or the buyer
checks on the dashboard's public page (code in; date, litres and total
solids out, or nothing). The code is the seal's (docs/seal.md): the first
8 hex digits of the delivery's hash, `A1B2-C3D4`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hub.store.deliveries import _dec, is_voided, receipt_points
from hub.store.influx import InfluxV1, from_ns

_CODE = re.compile(r"^([0-9A-F]{4})-?([0-9A-F]{4})$")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the public page may show about a delivery: no producer, no money."""

    code: str
    ts: datetime                    # in the zone asked for
    liters: Decimal
    solids_pct: Decimal | None
    accepted: bool
    voided: bool                    # a later void record cancels it
    matches: int                    # deliveries with this code (32 bits: rarely more than 1)


def normalize_receipt_code(text: str) -> str | None:
    """`dbd9b7ca`, ` DBD9-B7CA ` -> `DBD9-B7CA`; None when it is not a receipt code."""
    match = _CODE.match(text.strip().upper())
    return f"{match.group(1)}-{match.group(2)}" if match else None


def find_receipt(influx: InfluxV1, code: str, tz: ZoneInfo) -> Receipt | None:
    """The delivery whose receipt code is `code` (the earliest, when codes collide),
    or None when the code is malformed or no delivery has it. A delivery stored
    twice is one delivery (`hub.store.deliveries.receipt_points`: each id once).

    Raises InfluxError when InfluxDB cannot be read (the page says "try later",
    not "no existe")."""
    normalized = normalize_receipt_code(code)
    if normalized is None:
        return None
    rows = receipt_points(influx, normalized)
    rows = [r for r in rows if r.get("kind") in (None, "delivery", "correction")] or rows
    if not rows:
        return None
    first = rows[0]
    return Receipt(normalized, from_ns(first["time"], tz), _dec(first.get("liters")) or Decimal(0),
                   _dec(first.get("solids_pct")), bool(first.get("accepted")),
                   is_voided(influx, str(first["id"])), len(rows))
