"""InfluxDB points of each payload (line protocol), the hub's storage layout.

Documented in docs/payloads.md ("InfluxDB"). The tag set plus the record's
own timestamp identify a point, so a re-sent message overwrites itself
instead of adding a second point: exactly once in effect.
"""

from __future__ import annotations

from functools import singledispatch
from math import isfinite

from milk_common.contract import ColdchainV1, DeliveryV1, ShiftV1, StatusV1, TankV1

from hub.store.influx import line, to_ns


@singledispatch
def points(message) -> list[str]:
    raise TypeError(f"no InfluxDB layout for {type(message).__name__}")


# The delivery's fields in the order they are written (the generic `line()`
# gives the same text; tests/test_ingest_fast.py holds the two together).
# kind: "s" text, "f" float, "i" integer, "b" boolean.
_DELIVERY_FIELDS = (
    ("id", "s"), ("seq", "i"), ("liters", "f"), ("solids_pct", "f"), ("snf_pct", "f"),
    ("fat_pct", "f"), ("milk_temp_c", "f"), ("weight_kg", "f"), ("density_15c", "f"),
    ("accepted", "b"), ("fat_source", "s"), ("reject_reason", "s"), ("flags", "s"),
    ("operator", "s"), ("kind", "s"), ("refers_to", "s"), ("prev_hash", "s"), ("hash", "s"),
    ("hmac", "s"), ("receipt_code", "s"), ("alcohol_test", "s"), ("organoleptic", "s"),
    ("acidity_dornic", "f"), ("note", "s"), ("epoch", "s"),
)


def _text(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def delivery_line(m: DeliveryV1) -> str:
    """The `delivery` point of one delivery, built straight into text: the
    hub writes thousands a second, and the generic `line()` spent most of
    its time making and walking a dict of 25 fields. Tags need no escaping:
    the contract holds center, station and producer to [A-Za-z0-9_-]."""
    flags = ",".join(m.flags) if m.flags else None
    parts = []
    append = parts.append
    for name, kind in _DELIVERY_FIELDS:
        if name == "flags":
            value = flags
        else:
            value = getattr(m, name)
        if value is None or (value == "" and name in ("operator", "note")):
            continue
        if kind == "f":
            if not isfinite(value):
                raise ValueError("InfluxDB cannot store NaN or infinity")
            append(f"{name}={value!r}")
        elif kind == "s":
            append(f"{name}={_text(value)}")
        elif kind == "i":
            append(f"{name}={value}i")
        else:
            append(f"{name}=true" if value else f"{name}=false")
    return (f"delivery,center={m.center},producer={m.producer},station={m.station} "
            f"{','.join(parts)} {to_ns(m.ts)}")


@points.register
def _(m: DeliveryV1) -> list[str]:
    return [delivery_line(m)]


@points.register
def _(m: TankV1) -> list[str]:
    tags = {"center": m.center, "station": m.station, "tank": m.tank}
    # A sample without a valid reading is kept as valid=false, so the gap is
    # visible in the series instead of silently missing.
    return [line("tank_temperature", tags, {"temp_c": s.temp_c, "valid": s.temp_c is not None},
                 to_ns(s.ts)) for s in m.samples]


@points.register
def _(m: ColdchainV1) -> list[str]:
    return [line("coldchain", {"center": m.center, "station": m.station, "tank": m.tank},
                 {"state": m.state, "reason": m.reason}, to_ns(m.ts))]


@points.register
def _(m: StatusV1) -> list[str]:
    return [line("station_status", {"center": m.center, "station": m.station},
                 {"status": m.status}, to_ns(m.ts))]


@points.register
def _(m: ShiftV1) -> list[str]:
    return [line("shift_summary", {"center": m.center, "station": m.station, "shift": m.shift},
                 {"date": m.date, "deliveries": m.deliveries, "rejected": m.rejected,
                  "liters": m.liters, "avg_solids_pct": m.avg_solids_pct}, to_ns(m.ts))]
