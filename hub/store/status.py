"""Stations and tanks as InfluxDB holds them: the newest status of each station, each
tank's cold-chain state and temperature, a tank's temperature history (the dashboard's
charts and the alerts' e-mail chart), and what the dashboard's live parts compare.

Identifiers that reach an InfluxQL string are quoted (`hub.store.influx.quote`), or
checked against the contract's patterns first, so a query cannot be widened by what
a visitor types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from milk_common.contract import valid_ident

from hub.store.influx import InfluxV1, from_ns, quote, rfc3339

TANK_STATES = ("empty", "cooling", "cold", "break", "sensor_fault")


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
        v.status_at = from_ns(row["time"], tz)
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
            v.state_at = from_ns(row["time"], tz)
            v.reason = row.get("reason")
    for row in influx.query("SELECT LAST(temp_c) AS temp_c FROM tank_temperature "
                            "GROUP BY center, station, tank"):
        v = view(row)
        if v is not None:
            v.temp_c = row.get("temp_c")
            v.temp_at = from_ns(row["time"], tz)
    bucket_s = max(int(hours * 3600 / points), 1)
    for v in found.values():
        end = max((t for t in (v.temp_at, v.state_at) if t is not None), default=None)
        if end is None or not all(valid_ident(x) for x in (v.center, v.station, v.tank)):
            continue
        start = end - timedelta(hours=hours)
        q = (f"SELECT MEAN(temp_c) AS temp_c FROM tank_temperature WHERE center = '{v.center}' "
             f"AND station = '{v.station}' AND tank = '{v.tank}' AND time > '{rfc3339(start)}' "
             f"AND time <= '{rfc3339(end)}' GROUP BY time({bucket_s}s) fill(none)")
        # Buckets without a valid reading are absent: the chart breaks its line there.
        v.samples = [(from_ns(r["time"], tz), r.get("temp_c")) for r in influx.query(q)]
    return sorted(found.values(), key=lambda v: (v.center, v.station, v.tank))


def tank_history(influx: InfluxV1, center: str, station: str, tank: str, start: datetime, end: datetime,
                 chunk_size: int = 10000) -> list[tuple[datetime, float | None]]:
    """A tank's samples from `start` to `end` (both included), in `start`'s zone; a sample
    without a valid reading is (time, None)."""
    q = (f"SELECT temp_c, valid FROM tank_temperature WHERE center = '{quote(center)}' AND "
         f"station = '{quote(station)}' AND tank = '{quote(tank)}' AND time >= '{rfc3339(start)}' "
         f"AND time <= '{rfc3339(end)}'")
    return [(datetime.fromtimestamp(row["time"] / 1e9, start.tzinfo),
             row.get("temp_c") if row.get("valid", True) else None)
            for row in influx.query(q, chunk_size=chunk_size)]


def live_states(influx: InfluxV1) -> list[str]:
    """Each station's newest link state and each tank's newest cold-chain state, as
    `center.station=online` and `center.station.tank=cold` (two LAST queries: cheap)."""
    out = [f"{r.get('center')}.{r.get('station')}={r.get('status')}" for r in influx.query(
        "SELECT LAST(status) AS status FROM station_status GROUP BY center, station")]
    out += [f"{r.get('center')}.{r.get('station')}.{r.get('tank')}={r.get('state')}" for r in influx.query(
        "SELECT LAST(state) AS state FROM coldchain GROUP BY center, station, tank")]
    return out
