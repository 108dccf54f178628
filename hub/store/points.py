"""InfluxDB points of each payload (line protocol), the hub's storage layout.

Documented in docs/payloads.md ("InfluxDB"). The tag set plus the record's
own timestamp identify a point, so a re-sent message overwrites itself
instead of adding a second point: exactly once in effect.
"""

from __future__ import annotations

from functools import singledispatch

from milk_common.contract import ColdchainV1, DeliveryV1, ShiftV1, StatusV1, TankV1

from hub.store.influx import line, to_ns


@singledispatch
def points(message) -> list[str]:
    raise TypeError(f"no InfluxDB layout for {type(message).__name__}")


@points.register
def _(m: DeliveryV1) -> list[str]:
    return [line("delivery", {"center": m.center, "station": m.station, "producer": m.producer}, {
        "id": m.id, "seq": m.seq, "liters": m.liters,
        "solids_pct": m.solids_pct, "snf_pct": m.snf_pct, "fat_pct": m.fat_pct,
        "milk_temp_c": m.milk_temp_c, "weight_kg": m.weight_kg,
        "density_15c": m.density_15c, "accepted": m.accepted,
        "fat_source": m.fat_source, "reject_reason": m.reject_reason,
        "flags": ",".join(m.flags) if m.flags else None,
        "operator": m.operator or None,
        "kind": m.kind, "refers_to": m.refers_to,
        "prev_hash": m.prev_hash, "hash": m.hash, "hmac": m.hmac,
        "receipt_code": m.receipt_code,
        "alcohol_test": m.alcohol_test, "organoleptic": m.organoleptic,
        "acidity_dornic": m.acidity_dornic, "note": m.note or None,
        "epoch": m.epoch,
    }, to_ns(m.ts))]


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
