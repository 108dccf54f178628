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


def _text(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def _num(value: float) -> str:
    if not isfinite(value):
        raise ValueError("InfluxDB cannot store NaN or infinity")
    return repr(value)


def delivery_line(m: DeliveryV1, time_ns: int | None = None) -> str:
    """The `delivery` point of one delivery, built straight into text: the
    hub writes thousands a second, and the generic `line()` spent most of
    its time making and walking a dict of 25 fields. Tags need no escaping:
    the contract holds center, station and producer to [A-Za-z0-9_-]; the
    other always-present values (id, seq, liters, accepted, kind) have
    patterns or types that need none either."""
    text = (f"delivery,center={m.center},producer={m.producer},station={m.station} "
            f'id="{m.id}",seq={m.seq}i,liters={_num(m.liters)}')
    optional = []
    append = optional.append
    for name in ("solids_pct", "snf_pct", "fat_pct", "milk_temp_c", "weight_kg", "density_15c"):
        value = getattr(m, name)
        if value is not None:
            append(f",{name}={_num(value)}")
    append(",accepted=true" if m.accepted else ",accepted=false")
    for name in ("fat_source", "reject_reason"):
        value = getattr(m, name)
        if value is not None:
            append(f",{name}={_text(value)}")
    if m.flags:
        append(f",flags={_text(','.join(m.flags))}")
    if m.operator:
        append(f",operator={_text(m.operator)}")
    append(f',kind="{m.kind}"')
    for name in ("refers_to", "prev_hash", "hash", "hmac", "receipt_code", "alcohol_test",
                 "organoleptic"):
        value = getattr(m, name)
        if value is not None:
            append(f",{name}={_text(value)}")
    if m.acidity_dornic is not None:
        append(f",acidity_dornic={_num(m.acidity_dornic)}")
    if m.note:
        append(f",note={_text(m.note)}")
    if m.epoch is not None:
        append(f',epoch="{m.epoch}"')
    if m.seal is not None:
        append(f',seal="{m.seal}"')
    # The hub passes the sealed time (ts_ms in ns): a point's identity comes
    # only from sealed values (hub/ingest/integrity.py, sealed_time_finding).
    return f"{text}{''.join(optional)} {to_ns(m.ts) if time_ns is None else time_ns}"


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
                 {"status": m.status, "last_seq": m.last_seq, "outbox": m.outbox}, to_ns(m.ts))]


@points.register
def _(m: ShiftV1) -> list[str]:
    return [line("shift_summary", {"center": m.center, "station": m.station, "shift": m.shift},
                 {"date": m.date, "deliveries": m.deliveries, "rejected": m.rejected,
                  "liters": m.liters, "avg_solids_pct": m.avg_solids_pct}, to_ns(m.ts))]
