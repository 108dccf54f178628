"""Synthetic data and waiting helpers shared by the tests and the benchmarks.

They live here, not in `tests/`, so that `bench/` can use them without
importing the test suite.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from collector_station.instruments.protocols import TimedAnalysis
from collector_station.instruments.protocols import Analysis
from collector_station.intake.flow import build_delivery
from collector_station.intake.quality import QualityLimits


def write_hub_config(path: Path, *, mqtt_port: int, influx_url: str, database: str,
                     client_id: str, data_dir: Path, batch_size: int = 1000,
                     extra: str = "") -> Path:
    """A hub.toml pointing at the given servers (loopback).

    When this process started that broker (devtools/servers.py), the config
    also gets its TLS CA, the hub's login and the session's shared station
    key store, so the hub runs exactly as in production."""
    from devtools.servers import Servers
    servers = Servers.for_port(mqtt_port)
    access = servers.security.hub_mqtt_lines() if servers else ""
    if servers:
        keys = f'keys_file = "{servers.keys_path}"\n'
        if "[integrity]\n" in extra:
            extra = extra.replace("[integrity]\n", "[integrity]\n" + keys, 1)
        else:
            extra = (extra.rstrip("\n") + "\n" if extra else "") + "[integrity]\n" + keys
    path.write_text(f'''timezone = "America/Lima"
data_dir = "{data_dir}"
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "{client_id}"
{access}[influx]
url = "{influx_url}"
database = "{database}"
batch_size = {batch_size}
flush_interval_s = 0.1
retry_max_s = 1.0
''' + extra)
    return path


def recent_morning(zone, days_ago: int = 1) -> datetime:
    """06:00 of a day shortly before now, in `zone`: for tests that need "some
    deliveries" rather than a given fortnight, so the hub's clock checks
    (stamped in the future, arrived long after the stamp) judge them as
    ordinary deliveries on any date the suite runs."""
    day = datetime.now(zone) - timedelta(days=days_ago)
    return day.replace(hour=6, minute=0, second=0, microsecond=0)


def make_records(n: int, *, center: str, station: str, start: datetime, seed: int = 1):
    """`n` plausible delivery records one minute apart (before the outbox seals them)."""
    rng = random.Random(seed)
    for i in range(n):
        analysis = TimedAnalysis(Analysis(density_g_ml=Decimal(f"{rng.uniform(1.027, 1.034):.4f}"),
                                          temp_c=Decimal(f"{rng.uniform(12, 22):.1f}")), 0.0, i)
        yield build_delivery(center=center, station=station, producer=f"p{rng.randrange(20):03d}",
                             ts=start + timedelta(minutes=i), weight_kg=Decimal(f"{rng.uniform(5, 40):.2f}"),
                             analysis=analysis, formula="richmond", limits=QualityLimits())


def wait_until(predicate, timeout_s: float = 30.0, interval_s: float = 0.1, message: str = ""):
    """Poll `predicate` until it is truthy (its value is returned) or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s: {message}")
