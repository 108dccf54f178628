"""What the dashboard reads from the hub's data folder: the recovery index's gaps,
the producer registry's names, the ingest's integrity findings and status files.

Read-only. Everything InfluxDB holds is read through `hub.store` (`deliveries`:
the period's points and the rule of what counts; `status`: stations and tanks).
"""

from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from hub.store.status import StationView


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


# The ingest refreshes `heartbeat` every 2 s; a file older than this belongs
# to a hub that was killed (or hangs) and may still say `connected: true`.
HEARTBEAT_STALE_S = 30


def hub_alive(status: dict | None, now: datetime) -> bool:
    """Is the hub's ingest running and connected? Only if its status file
    exists, says connected and has a heartbeat at most HEARTBEAT_STALE_S
    old (a file without one comes from an ingest too old to tell: down)."""
    if not status or not status.get("connected"):
        return False
    try:
        beat = datetime.fromisoformat(str(status.get("heartbeat")))
    except ValueError:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return (now - beat).total_seconds() <= HEARTBEAT_STALE_S


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
            elif key == "heartbeat":
                # The newest: the hubs of a group are alive if any one is.
                total[key] = max(str(value or ""), str(total.get(key) or "")) or None
            elif key.startswith("last_error") and value and (status.get("last_error_at") or "") > \
                    (total.get("last_error_at") or ""):
                total[key] = value
    return total
