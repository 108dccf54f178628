"""What the dashboard reads: InfluxDB (v1 API, InfluxQL) and the hub's data folder.

Read-only, except `acknowledge` (the alert store). Identifiers that reach
an InfluxQL string are checked against the contract's patterns first, so a
query cannot be widened by what a visitor types.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from milk_common.contract import valid_ident

from hub.payments.periods import Period
from hub.store.deliveries import amended_ids
from hub.store.influx import InfluxV1

TANK_STATES = ("empty", "cooling", "cold", "break", "sensor_fault")


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(ns: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz).replace(microsecond=(ns % 1_000_000_000) // 1000)


@dataclass
class StationView:
    center: str
    station: str
    state: str = "offline"                 # online | offline (never heard of: offline)
    status_at: datetime | None = None
    last_seq: int | None = None            # the newest stored delivery's sequence number
    announced_seq: int | None = None       # what the station says it has recorded (status last_seq)
    outbox: int | None = None              # unsent records, where the station reports it
    gaps: int | None = None                # records the recovery index knows are missing

    @property
    def key(self) -> str:
        return f"{self.center}.{self.station}"

    @property
    def missing(self) -> int | None:
        """Deliveries the station has and the hub has not stored yet, where known."""
        if self.outbox is not None:
            return self.outbox
        if self.gaps is not None:
            return self.gaps
        if self.announced_seq is not None and self.last_seq is not None:
            return max(self.announced_seq - self.last_seq, 0)
        return None


@dataclass
class TankView:
    center: str
    station: str
    tank: str
    state: str = "unknown"                 # a cold-chain state, or unknown
    state_at: datetime | None = None
    reason: str | None = None
    temp_c: float | None = None
    temp_at: datetime | None = None
    samples: list[tuple[datetime, float | None]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.center}.{self.station}.{self.tank}"


def period_rows(influx: InfluxV1, period: Period, tz: ZoneInfo, chunk_size: int = 10000):
    """(the period's delivery rows with the fields the dashboard tallies, the ids that
    voids or corrections replace): what `summary.summarize_rows` takes. The same
    points and the same exclusions as `hub.store.deliveries.period_deliveries`."""
    start, end = period.bounds(tz)
    superseded = amended_ids(influx, start, chunk_size)
    # Every void refers to a delivery, so with none amended since the period began
    # there is no void in it either: ids and kinds (the bulk of the JSON) stay home.
    fields = "id, kind, " if superseded else ""
    q = (f"SELECT {fields}liters, solids_pct, accepted, center, station, producer FROM delivery "
         f"WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'")
    return influx.query(q, chunk_size=chunk_size), superseded


def stations(influx: InfluxV1, tz: ZoneInfo) -> list[StationView]:
    """Every station that sent a status or a delivery, with its newest status and sequence."""
    found: dict[tuple[str, str], StationView] = {}

    def view(row) -> StationView | None:
        c, s = row.get("center"), row.get("station")
        if not (c and s):
            return None
        return found.setdefault((c, s), StationView(c, s))

    for row in influx.query("SELECT * FROM station_status GROUP BY center, station "
                            "ORDER BY time DESC LIMIT 1"):
        v = view(row)
        if v is None:
            continue
        v.state = "online" if row.get("status") == "online" else "offline"
        v.status_at = _time(row["time"], tz)
        if isinstance(row.get("last_seq"), (int, float)):
            v.announced_seq = int(row["last_seq"])
        if isinstance(row.get("outbox"), (int, float)):
            v.outbox = int(row["outbox"])
    for row in influx.query("SELECT LAST(seq) AS seq FROM delivery GROUP BY center, station"):
        v = view(row)
        if v is not None and row.get("seq") is not None:
            v.last_seq = int(row["seq"])
    return sorted(found.values(), key=lambda v: (v.center, v.station))


def tanks(influx: InfluxV1, tz: ZoneInfo, hours: float = 24.0, points: int = 240) -> list[TankView]:
    """Each tank's newest cold-chain state and temperature, and its last `hours` of
    temperature up to its newest sample (averaged into about `points` buckets;
    buckets without a valid reading are left out)."""
    found: dict[tuple[str, str, str], TankView] = {}

    def view(row) -> TankView | None:
        c, s, t = row.get("center"), row.get("station"), row.get("tank")
        if not (c and s and t):
            return None
        return found.setdefault((c, s, t), TankView(c, s, t))

    for row in influx.query("SELECT * FROM coldchain GROUP BY center, station, tank "
                            "ORDER BY time DESC LIMIT 1"):
        v = view(row)
        if v is not None:
            state = row.get("state")
            v.state = state if state in TANK_STATES else "unknown"
            v.state_at = _time(row["time"], tz)
            v.reason = row.get("reason")
    for row in influx.query("SELECT LAST(temp_c) AS temp_c FROM tank_temperature "
                            "GROUP BY center, station, tank"):
        v = view(row)
        if v is not None:
            v.temp_c = row.get("temp_c")
            v.temp_at = _time(row["time"], tz)
    bucket_s = max(int(hours * 3600 / points), 1)
    for v in found.values():
        end = max((t for t in (v.temp_at, v.state_at) if t is not None), default=None)
        if end is None or not all(valid_ident(x) for x in (v.center, v.station, v.tank)):
            continue
        start = end - timedelta(hours=hours)
        q = (f"SELECT MEAN(temp_c) AS temp_c FROM tank_temperature WHERE center = '{v.center}' "
             f"AND station = '{v.station}' AND tank = '{v.tank}' AND time > '{_rfc3339(start)}' "
             f"AND time <= '{_rfc3339(end)}' GROUP BY time({bucket_s}s) fill(none)")
        # Buckets without a valid reading are absent: the chart breaks its line there.
        v.samples = [(_time(r["time"], tz), r.get("temp_c")) for r in influx.query(q)]
    return sorted(found.values(), key=lambda v: (v.center, v.station, v.tank))


def add_recovery_gaps(views: list[StationView], data_dir: Path) -> None:
    """Where the ingest's recovery index exists (docs/recovery.md), each station's
    records the hub lacks: the gaps of its current epoch's deliveries (0 when none),
    and the highest sequence the station says it has."""
    from hub.recovery.index import gap_report
    from hub.recovery.watch import INDEX_FILE
    path = data_dir / INDEX_FILE
    if not path.exists():
        return
    try:
        rows = gap_report(path)
    except Exception:      # an index being created or of another version: show what InfluxDB says
        return
    gaps: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row["kind"] == "delivery" and row["current_epoch"]:
            key = f"{row['center']}.{row['station']}"
            missing, announced = gaps.get(key, (0, 0))
            gaps[key] = (missing + row["missing"], max(announced, row["announced"]))
    for v in views:
        missing, announced = gaps.get(v.key, (0, None))
        v.gaps = missing
        if announced:
            v.announced_seq = max(v.announced_seq or 0, announced)


def producer_names(data_dir: Path) -> dict[str, str]:
    """{code: name} from the hub's producer registry (`milk-hub producers import`),
    empty when there is none."""
    from hub.producers.registry import ProducerRegistry, registry_path
    path = registry_path(data_dir)
    if not path.exists():
        return {}
    registry = ProducerRegistry(path)
    try:
        return {p.code: p.name for p in registry.all()}
    finally:
        registry.close()


def integrity_findings(data_dir: Path, limit: int = 50) -> list[dict]:
    """The newest findings the ingest kept (integrity.jsonl), newest first."""
    path = data_dir / "integrity.jsonl"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as fh:
        tail = deque(fh, maxlen=limit)
    out = []
    for line in reversed(tail):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def ingest_status(data_dir: Path) -> dict | None:
    """The running ingest's own status file (connected, backlog, dead letters);
    for hubs sharing a subscription (docs/scaling.md), their files summed."""
    paths = [data_dir / "ingest-status.json"]
    if not paths[0].exists():
        paths = sorted(data_dir.glob("ingest-status-*.json"))
    statuses = []
    for path in paths:
        try:
            statuses.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if len(statuses) <= 1:
        return statuses[0] if statuses else None
    total = dict(statuses[0])
    for status in statuses[1:]:
        for key, value in status.items():
            if isinstance(value, bool):
                total[key] = total.get(key) or value        # connected: any hub
            elif isinstance(value, (int, float)) and isinstance(total.get(key), (int, float)):
                total[key] += value
            elif key.startswith("last_error") and value and (status.get("last_error_at") or "") > \
                    (total.get("last_error_at") or ""):
                total[key] = value
    return total
