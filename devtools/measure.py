"""What the benchmarks read off the system and the database: a process's CPU
time and peak memory (from /proc), and how many deliveries InfluxDB holds."""

from __future__ import annotations

import os
from pathlib import Path

from hub.store.influx import InfluxError, InfluxV1

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stored_deliveries(influx: InfluxV1) -> int:
    """Delivery points in the database (a re-sent delivery is the same point)."""
    try:
        rows = list(influx.query("SELECT COUNT(liters) FROM delivery"))
    except InfluxError:
        return 0
    return rows[0]["count"] if rows else 0


def cpu_s(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of a process (and of its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
