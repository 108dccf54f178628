"""Every MQTT payload, defined once: the station builds with it, the hub validates with it.

Payloads are UTF-8 JSON objects whose `schema` key names kind and version
(`delivery/1`). The models are msgspec Structs: decoding bytes straight into
a typed, validated object costs a few microseconds, which the hub needs at
thousands of deliveries a second (pydantic costs ten times more). Unknown
keys are ignored, so a station one version ahead still gets through; a new
meaning for an existing key needs a new schema version (`delivery/2`).

Documented for users in docs/payloads.md.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta

from milk_common.contract.ids import EPOCH_PATTERN, HASH_PATTERN, IDENT_PATTERN, PRODUCER_PATTERN, RECORD_ID_PATTERN
from milk_common.contract.topics import parse_station_topic

Ident = Annotated[str, Meta(pattern=IDENT_PATTERN)]
ProducerCode = Annotated[str, Meta(pattern=PRODUCER_PATTERN)]
RecordId = Annotated[str, Meta(pattern=RECORD_ID_PATTERN)]
Hash = Annotated[str, Meta(pattern=HASH_PATTERN)]
AwareTime = Annotated[datetime, Meta(tz=True)]
Pct = Annotated[float, Meta(ge=0, le=100)]
# The temperatures a payload carries (milk at intake, tank probes), in °C.
TEMP_MIN_C, TEMP_MAX_C = -40, 120
TempC = Annotated[float, Meta(ge=TEMP_MIN_C, le=TEMP_MAX_C)]
Quantity = Annotated[float, Meta(ge=0, le=100000)]
Count = Annotated[int, Meta(ge=0)]
Epoch = Annotated[str, Meta(pattern=EPOCH_PATTERN)]
Seq = Annotated[int, Meta(ge=1)]
# A density in g/mL: milk is about 1.03, anything outside this is no density.
Density = Annotated[float, Meta(gt=0.5, lt=2)]
# A short code naming where a value came from or how it was made (`scale`,
# `densimeter`, `richmond`). A pattern, not a list: the hub decides nothing on
# these, so a station that knows a new source must not get its deliveries refused.
SourceCode = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,32}$")]


class Payload(msgspec.Struct, frozen=True, tag_field="schema", forbid_unknown_fields=False):
    """Base of every payload: `schema` is the struct's tag."""


class DeliveryV1(Payload, tag="delivery/1", kw_only=True):
    """One delivery, rejected ones included; voids and corrections are new
    records that refer to the original (`kind`, `refers_to`)."""
    id: RecordId
    seq: Annotated[int, Meta(ge=1)]
    center: Ident
    station: Ident
    producer: ProducerCode
    ts: AwareTime
    liters: Quantity
    accepted: bool
    solids_pct: Pct | None = None
    snf_pct: Pct | None = None
    fat_pct: Pct | None = None
    milk_temp_c: TempC | None = None
    weight_kg: Quantity | None = None
    density_15c: Density | None = None
    fat_source: str | None = None
    # How the figures were made (collector_station/intake/flow.py, build_delivery):
    # outside the seal, kept so a figure can be traced to its instrument.
    weight_source: SourceCode | None = None                 # scale; null without a weight
    liters_density: Literal["measured", "default"] | None = None   # density used for litres
    density_g_ml: Density | None = None                     # as read, before the 15 °C correction
    density_compensated: bool = False                       # the instrument reported it at 15 °C
    density_source: SourceCode | None = None                # densimeter, analyzer
    # Quevenne degrees at 15 °C, (density_15c - 1)·1000: density_15c's range.
    lactometer_15c: Annotated[float, Meta(gt=-500, lt=1000)] | None = None
    formula: SourceCode | None = None                       # the solids formula: richmond, fleischmann, bis
    reject_reason: Annotated[str, Meta(max_length=200)] | None = None
    flags: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=32)] = []
    operator: Annotated[str, Meta(max_length=64)] = ""
    kind: Literal["delivery", "void", "correction"] = "delivery"
    refers_to: RecordId | None = None
    # The seal (milk_common/integrity.py): chain hash, station signature, receipt code.
    prev_hash: Hash | None = None
    hash: Hash | None = None
    hmac: Hash | None = None
    receipt_code: Annotated[str, Meta(max_length=16)] | None = None
    alcohol_test: Literal["pass", "fail"] | None = None
    organoleptic: Literal["ok", "not_ok"] | None = None
    acidity_dornic: Annotated[float, Meta(gt=0, lt=100)] | None = None
    note: Annotated[str, Meta(max_length=200)] = ""
    # The station database's sequence epoch (docs/recovery.md); inside the seal from seal/2.
    epoch: Epoch | None = None
    # The seal's version (docs/seal.md, docs/seal-2.md); absent: seal/1.
    seal: Literal["seal/1", "seal/2"] | None = None

    def __post_init__(self) -> None:
        if self.accepted and self.solids_pct is None:
            raise ValueError("solids_pct: an accepted delivery needs solids_pct")
        if self.kind != "delivery" and self.refers_to is None:
            raise ValueError(f"refers_to: a {self.kind} record needs refers_to")


class TankSample(msgspec.Struct, frozen=True):
    ts: AwareTime
    temp_c: TempC | None     # None: the probe gave no valid reading


class TankV1(Payload, tag="tank/1", kw_only=True):
    """A batch of one tank's temperature samples."""
    center: Ident
    station: Ident
    tank: Ident
    samples: Annotated[list[TankSample], Meta(min_length=1, max_length=10000)]
    # The batch's own sequence number (one series per station, all tanks)
    # and the station database's epoch, for recovery (docs/recovery.md).
    seq: Seq | None = None
    epoch: Epoch | None = None


class ColdchainV1(Payload, tag="coldchain/1", kw_only=True):
    """A tank's cold-chain state change, or an early warning (`warning`)."""
    center: Ident
    station: Ident
    tank: Ident
    ts: AwareTime
    state: Literal["empty", "cooling", "cold", "break", "sensor_fault"]
    reason: Annotated[str, Meta(max_length=500)] = ""
    reason_code: Annotated[str, Meta(max_length=64)] = ""
    warning: Literal["predicted_miss", "compressor_suspect"] | None = None
    eta: AwareTime | None = None


class StatusV1(Payload, tag="status/1", kw_only=True):
    """The station's retained status; the broker publishes `offline` as its last will."""
    center: Ident
    station: Ident
    status: Literal["online", "offline"]
    ts: AwareTime
    devices: dict[str, str] | None = None   # instrument -> connected | disconnected
    # What the station holds (docs/recovery.md): the hub asks for what it lacks.
    epoch: Epoch | None = None
    last_seq: Count | None = None
    last_tank_seq: Count | None = None
    outbox: Count | None = None             # records the station still holds unsent
    # Whether the station trusts its clock to stamp deliveries, and why
    # (docs/clock.md): synced | rtc | unchecked | off, or untrusted:REASON.
    clock: Annotated[str, Meta(max_length=64)] | None = None


class ShiftProducer(msgspec.Struct, frozen=True, kw_only=True):
    """One producer's part of a shift: deliveries, rejections, accepted litres."""
    deliveries: Count
    rejected: Count
    liters: Annotated[float, Meta(ge=0)]


class ShiftV1(Payload, tag="shift/1", kw_only=True):
    """A closed shift's summary."""
    center: Ident
    station: Ident
    date: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    shift: Annotated[str, Meta(min_length=1, max_length=32)]
    ts: AwareTime
    deliveries: Count
    rejected: Count
    liters: Annotated[float, Meta(ge=0)]
    avg_solids_pct: Pct | None = None
    rejections: dict[str, Count] = {}
    producers: dict[ProducerCode, ShiftProducer] = {}


class RegistryProducer(msgspec.Struct, frozen=True, kw_only=True):
    code: ProducerCode
    name: str
    active: bool = True
    lab_fat_pct: str | None = None      # decimal as text
    lab_date: str | None = None         # YYYY-MM-DD


class RegistryV1(Payload, tag="registry/1", kw_only=True):
    """The hub's producer registry for one center (retained), without phones
    or notification addresses: stations need only codes, names and lab fat."""
    center: Ident
    producers: list[RegistryProducer]


class AlertItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    station: str
    tank: str | None
    since: str
    detail: str
    acked: bool


class AlertsV1(Payload, tag="alerts/1", kw_only=True):
    """A center's open alerts (retained on `milk/v1/alerts/{center}`)."""
    center: Ident
    ts: AwareTime
    alerts: list[AlertItem]


class ReplayV1(Payload, tag="replay/1", kw_only=True):
    """The hub asks a station to re-send its records with seq in
    [from_seq, to_seq] of one epoch, unchanged (docs/recovery.md)."""
    center: Ident
    station: Ident
    epoch: Epoch
    kind: Literal["delivery", "tank"]
    from_seq: Seq
    to_seq: Seq
    ts: AwareTime

    def __post_init__(self) -> None:
        if self.to_seq < self.from_seq:
            raise ValueError("to_seq: must not be below from_seq")


class HubStatusV1(Payload, tag="hub_status/1", kw_only=True):
    """A hub's retained liveness on `milk/v1/hubs/{hub}`; its last will says offline."""
    hub: Annotated[str, Meta(min_length=1, max_length=64)]
    status: Literal["online", "offline"]
    ts: AwareTime


# What arrives on each station topic kind.
STATION_SCHEMAS: dict[str, type[Payload]] = {
    "delivery": DeliveryV1, "tank": TankV1, "coldchain": ColdchainV1, "status": StatusV1,
    "shift": ShiftV1,
}
StationPayload = Union[DeliveryV1, TankV1, ColdchainV1, StatusV1, ShiftV1]

_DECODERS = {kind: msgspec.json.Decoder(model) for kind, model in STATION_SCHEMAS.items()}


class InvalidPayload(ValueError):
    """Why a message cannot be accepted (one line, for the dead-letter record)."""


def _reason(exc: msgspec.ValidationError) -> str:
    # msgspec says "Expected `float` >= 0.0 - at `$.liters`": lead with the field.
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if sep:
        path = where.rstrip("`").removeprefix("$").lstrip(".") or "payload"
        return f"{path}: {message}"
    return text


def decode_station_message(topic: str, payload: bytes) -> StationPayload:
    """Validate a station's message against its topic; raises InvalidPayload."""
    parts = parse_station_topic(topic)
    if parts is None:
        raise InvalidPayload(f"unknown topic {topic!r}")
    try:
        message = _DECODERS[parts.kind].decode(payload)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(_reason(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidPayload(_undecodable(exc, payload)) from None
    if message.center != parts.center or message.station != parts.station:
        raise InvalidPayload("center/station in the payload differ from the topic")
    if parts.tank is not None and message.tank != parts.tank:
        raise InvalidPayload("tank in the payload differs from the topic")
    return message


def decode(model: type[Payload], payload: bytes) -> Payload:
    """Decode a payload of a known schema (registry, alerts); raises InvalidPayload."""
    try:
        return msgspec.json.decode(payload, type=model)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(_reason(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidPayload(_undecodable(exc, payload)) from None


# No payload of the contract nests more than a few levels; past this a decoder
# gives up (msgspec's own limit is deeper).
MAX_NESTING = 64


def _nesting_depth(payload: bytes) -> int:
    """The deepest nesting of arrays and objects outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in bytes(payload):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:        # backslash
                escaped = True
            elif byte == 0x22:        # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):    # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _undecodable(exc: Exception, payload: bytes) -> str:
    """Why bytes are not a JSON object, in the project's own words: which of
    msgspec's errors a cause surfaces as changes between its releases (0.18
    let a UnicodeDecodeError through where 0.23 raises DecodeError), so the
    cause is told from the payload itself, and only on this error path."""
    # Uncaught, a RecursionError stopped the hub's ingest for good (found by
    # devtools/fuzz.py).
    if isinstance(exc, RecursionError) or _nesting_depth(payload) > MAX_NESTING:
        return "not a JSON object: nested too deeply"
    try:
        bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        return "not a JSON object: not UTF-8 text"
    return "not a JSON object"


# -- builders -------------------------------------------------------------------
# Every payload is made by one of these, and each passes `checked`: a builder
# that drifts from its model fails where the payload is made, not as a dead
# letter (or a silently dropped key) at the hub. The check costs tens of
# microseconds: nothing for a station (a few deliveries a minute) or for what
# the hub itself publishes, too much for the hub's ingest, which never calls it.

def _now_s() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def status_payload(center: str, station: str, status: str, devices: dict | None = None,
                   ts: str | None = None, *, epoch: str | None = None,
                   last_seq: int | None = None, last_tank_seq: int | None = None,
                   outbox: int | None = None, clock: str | None = None) -> dict:
    """The retained status: online/offline, each instrument's connection, and
    (when given) the station's epoch and last sequence numbers, its unsent
    count and its clock's verdict (docs/clock.md)."""
    payload = {"schema": "status/1", "center": center, "station": station, "status": status,
               "ts": ts or _now_s()}
    if devices:
        payload["devices"] = dict(devices)
    if epoch is not None:
        payload["epoch"] = epoch
        if last_seq is not None:
            payload["last_seq"] = last_seq
        if last_tank_seq is not None:
            payload["last_tank_seq"] = last_tank_seq
    if outbox is not None:
        payload["outbox"] = outbox
    if clock is not None:
        payload["clock"] = clock
    return checked(StatusV1, payload)


def replay_payload(center: str, station: str, epoch: str, kind: str, from_seq: int, to_seq: int,
                   ts: str | None = None) -> dict:
    return checked(ReplayV1, {"schema": "replay/1", "center": center, "station": station,
                              "epoch": epoch, "kind": kind, "from_seq": from_seq,
                              "to_seq": to_seq, "ts": ts or _now_s()})


def hub_status_payload(hub: str, status: str, ts: str | None = None) -> dict:
    return checked(HubStatusV1, {"schema": "hub_status/1", "hub": hub, "status": status,
                                 "ts": ts or _now_s()})


def tank_payload(center: str, station: str, tank: str, samples: list[dict],
                 seq: int | None = None, epoch: str | None = None) -> dict:
    """A batch of samples `{"ts": ISO time, "temp_c": float | None}`; `seq`
    and `epoch` let the hub ask for a lost batch again (docs/recovery.md)."""
    payload = {"schema": "tank/1", "center": center, "station": station, "tank": tank,
               "samples": samples}
    if seq is not None:
        payload["seq"] = seq
        payload["epoch"] = epoch
    return checked(TankV1, payload)


def coldchain_payload(center: str, station: str, tank: str, ts: str, state: str, reason: str,
                      reason_code: str, warning: str | None = None, eta: str | None = None) -> dict:
    """A state change; an early warning also carries `warning` and `eta` (null when unknown)."""
    payload = {"schema": "coldchain/1", "center": center, "station": station, "tank": tank,
               "ts": ts, "state": state, "reason": reason, "reason_code": reason_code}
    if warning is not None:
        payload["warning"] = warning
        payload["eta"] = eta
    return checked(ColdchainV1, payload)


def delivery_payload(**fields: object) -> dict:
    """A delivery/1 record before its seal (`milk_common.integrity.seal` adds
    prev_hash, hash, hmac and receipt_code, all declared in DeliveryV1)."""
    return checked(DeliveryV1, {"schema": "delivery/1", **fields})


def shift_payload(center: str, station: str, day: str, shift: str, ts: str, deliveries: int,
                  rejected: int, liters: float, avg_solids_pct: float | None,
                  rejections: dict[str, int], producers: dict[str, dict] | None = None) -> dict:
    """A closed shift's summary; `producers`: code -> deliveries, rejected, liters."""
    return checked(ShiftV1, {"schema": "shift/1", "center": center, "station": station,
                             "date": day, "shift": shift, "ts": ts, "deliveries": deliveries,
                             "rejected": rejected, "liters": liters,
                             "avg_solids_pct": avg_solids_pct, "rejections": rejections,
                             "producers": producers or {}})


def registry_payload(center: str, producers: list[dict]) -> dict:
    return checked(RegistryV1, {"schema": "registry/1", "center": center,
                                "producers": producers})


def alerts_payload(center: str, ts: str, alerts: list[dict]) -> dict:
    return checked(AlertsV1, {"schema": "alerts/1", "center": center, "ts": ts, "alerts": alerts})


def checked(model: type[Payload], payload: dict) -> dict:
    """`payload` itself, unchanged, after checking that it satisfies `model`
    and has no key the model does not declare (the receiver would drop such a
    key without a word); raises InvalidPayload naming the schema and the key."""
    schema = model.__struct_config__.tag
    try:
        made = msgspec.convert(payload, model, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(f"{schema}: {_reason(exc)}") from None
    where = undeclared_key(payload, msgspec.to_builtins(made))
    if where is not None:
        raise InvalidPayload(f"{schema}: {where}: not declared in the contract")
    return payload


def undeclared_key(sent: object, declared: object, where: str = "") -> str | None:
    """The path of the first key of `sent` that `declared` (the same payload
    through its model, every field present) lacks; None when there is none."""
    if isinstance(sent, dict) and isinstance(declared, dict):
        for key, value in sent.items():
            if key not in declared:
                return f"{where}{key}"
            found = undeclared_key(value, declared[key], f"{where}{key}.")
            if found is not None:
                return found
    elif isinstance(sent, (list, tuple)) and isinstance(declared, (list, tuple)):
        for i, (value, known) in enumerate(zip(sent, declared)):
            found = undeclared_key(value, known, f"{where}{i}.")
            if found is not None:
                return found
    return None
