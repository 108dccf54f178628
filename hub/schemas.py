"""MQTT payload schemas the hub accepts, and their InfluxDB points.

Documented for users in docs/payloads.md. A payload that fails here is a
dead letter (kept, counted, logged), never a crash. Models ignore unknown
keys so that a station one version ahead still gets through; a new meaning
for an existing key needs a new schema version (`delivery/2`).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError,
                      model_validator)

from hub.store.influx import line, to_ns

IDENT = r"^[a-z0-9_-]{1,32}$"
PRODUCER = r"^[A-Za-z0-9_-]{1,32}$"
TOPIC = re.compile(r"^milk/v1/([a-z0-9_-]{1,32})/([a-z0-9_-]{1,32})/(delivery|tank|coldchain|status|shift)"
                   r"(?:/([a-z0-9_-]{1,32}))?$")

Ident = Annotated[str, Field(pattern=IDENT)]
Pct = Annotated[float, Field(ge=0, le=100)]
TempC = Annotated[float, Field(ge=-40, le=120)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, frozen=True)


class DeliveryV1(Payload):
    schema_: Literal["delivery/1"] = Field(alias="schema")
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    seq: Annotated[int, Field(ge=1)]
    center: Ident
    station: Ident
    producer: Annotated[str, Field(pattern=PRODUCER)]
    ts: AwareDatetime
    liters: Annotated[float, Field(ge=0, le=100000)]
    accepted: StrictBool
    solids_pct: Pct | None = None
    snf_pct: Pct | None = None
    fat_pct: Pct | None = None
    milk_temp_c: TempC | None = None
    weight_kg: Annotated[float, Field(ge=0, le=100000)] | None = None
    density_15c: Annotated[float, Field(gt=0.5, lt=2)] | None = None
    fat_source: str | None = None
    reject_reason: Annotated[str, Field(max_length=200)] | None = None
    flags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    operator: Annotated[str, Field(max_length=64)] = ""
    # A correction or void is a new record that refers to the original.
    kind: Literal["delivery", "void", "correction"] = "delivery"
    refers_to: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] | None = None
    # The seal (milk_common/integrity.py): chain hash, station signature, receipt code.
    prev_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    hmac: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    receipt_code: Annotated[str, Field(max_length=16)] | None = None
    alcohol_test: Literal["pass", "fail"] | None = None
    organoleptic: Literal["ok", "not_ok"] | None = None
    acidity_dornic: Annotated[float, Field(gt=0, lt=100)] | None = None
    note: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> "DeliveryV1":
        if self.accepted and self.solids_pct is None:
            raise ValueError("an accepted delivery needs solids_pct")
        if self.kind != "delivery" and self.refers_to is None:
            raise ValueError(f"a {self.kind} record needs refers_to")
        return self

    def points(self) -> list[str]:
        # Tag set + the delivery's own timestamp identify the point, so a
        # re-sent delivery overwrites itself instead of adding a second one.
        return [line("delivery", {"center": self.center, "station": self.station,
                                  "producer": self.producer}, {
            "id": self.id, "seq": self.seq, "liters": self.liters,
            "solids_pct": self.solids_pct, "snf_pct": self.snf_pct, "fat_pct": self.fat_pct,
            "milk_temp_c": self.milk_temp_c, "weight_kg": self.weight_kg,
            "density_15c": self.density_15c, "accepted": self.accepted,
            "fat_source": self.fat_source, "reject_reason": self.reject_reason,
            "flags": ",".join(self.flags) if self.flags else None,
            "operator": self.operator or None,
            "kind": self.kind, "refers_to": self.refers_to,
            "prev_hash": self.prev_hash, "hash": self.hash, "hmac": self.hmac,
            "receipt_code": self.receipt_code,
            "alcohol_test": self.alcohol_test, "organoleptic": self.organoleptic,
            "acidity_dornic": self.acidity_dornic, "note": self.note or None,
        }, to_ns(self.ts))]


class TankSample(Payload):
    ts: AwareDatetime
    temp_c: TempC | None


class TankV1(Payload):
    schema_: Literal["tank/1"] = Field(alias="schema")
    center: Ident
    station: Ident
    tank: Ident
    samples: list[TankSample] = Field(min_length=1, max_length=10000)

    def points(self) -> list[str]:
        tags = {"center": self.center, "station": self.station, "tank": self.tank}
        # A sample without a valid reading is kept as valid=false, so the
        # gap is visible in the series instead of silently missing.
        return [line("tank_temperature", tags,
                     {"temp_c": s.temp_c, "valid": s.temp_c is not None}, to_ns(s.ts))
                for s in self.samples]


class ColdchainV1(Payload):
    schema_: Literal["coldchain/1"] = Field(alias="schema")
    center: Ident
    station: Ident
    tank: Ident
    ts: AwareDatetime
    state: Literal["empty", "cooling", "cold", "break", "sensor_fault"]
    reason: Annotated[str, Field(max_length=500)] = ""

    def points(self) -> list[str]:
        return [line("coldchain", {"center": self.center, "station": self.station, "tank": self.tank},
                     {"state": self.state, "reason": self.reason}, to_ns(self.ts))]


class StatusV1(Payload):
    schema_: Literal["status/1"] = Field(alias="schema")
    center: Ident
    station: Ident
    status: Literal["online", "offline"]
    ts: AwareDatetime

    def points(self) -> list[str]:
        return [line("station_status", {"center": self.center, "station": self.station},
                     {"status": self.status}, to_ns(self.ts))]


class ShiftV1(Payload):
    schema_: Literal["shift/1"] = Field(alias="schema")
    center: Ident
    station: Ident
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    shift: Annotated[str, Field(min_length=1, max_length=32)]
    ts: AwareDatetime
    deliveries: Annotated[int, Field(ge=0)]
    rejected: Annotated[int, Field(ge=0)]
    liters: Annotated[float, Field(ge=0)]
    avg_solids_pct: Pct | None = None
    rejections: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    def points(self) -> list[str]:
        return [line("shift_summary", {"center": self.center, "station": self.station,
                                       "shift": self.shift},
                     {"date": self.date, "deliveries": self.deliveries, "rejected": self.rejected,
                      "liters": self.liters, "avg_solids_pct": self.avg_solids_pct},
                     to_ns(self.ts))]


SCHEMAS: dict[str, type[Payload]] = {
    "delivery": DeliveryV1, "tank": TankV1, "coldchain": ColdchainV1, "status": StatusV1,
    "shift": ShiftV1,
}
AnyPayload = Union[DeliveryV1, TankV1, ColdchainV1, StatusV1, ShiftV1]


class InvalidPayload(Exception):
    """Why a message cannot be stored (one line, for the dead-letter record)."""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "payload"
    return f"{where}: {err['msg']}"


def parse_message(topic: str, payload: bytes) -> AnyPayload:
    """Validate a message against its topic; raises InvalidPayload."""
    match = TOPIC.match(topic)
    if not match:
        raise InvalidPayload(f"unknown topic {topic!r}")
    center, station, kind, tank = match.groups()
    if (kind == "tank") != (tank is not None):
        raise InvalidPayload(f"unknown topic {topic!r}")
    model = SCHEMAS[kind]
    try:
        message = model.model_validate_json(payload)
    except ValidationError as exc:
        if exc.errors()[0]["type"] in ("json_invalid", "json_type"):
            raise InvalidPayload("not a JSON object") from None
        raise InvalidPayload(_first_error(exc)) from None
    if message.center != center or message.station != station:
        raise InvalidPayload("center/station in the payload differ from the topic")
    if tank is not None and message.tank != tank:
        raise InvalidPayload("tank in the payload differs from the topic")
    return message
