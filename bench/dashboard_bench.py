"""How long the dashboard takes to show a fortnight, by its size.

    .venv/bin/python bench/dashboard_bench.py [--deliveries 100000 --producers 3000 --stations 30]

Writes one fortnight of deliveries as line protocol into an InfluxDB started
here (devtools/servers.py, its own ports and folder under .run/), then times
what a page view costs: reading the period's points (`read`:
`hub.store.deliveries.period_rows`, InfluxDB's query and its JSON), tallying them
(`tally`: `summary.summarize_rows`), the stations' and tanks' queries
(`side`), and a whole `GET /?period=...` through Starlette (`page`,
logged in, cache cold). One JSON line per phase: `phase`, `deliveries`,
`total_s`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devtools.servers import Servers, free_port  # noqa: E402
from hub.payments.periods import Period  # noqa: E402
from hub.store.influx import InfluxV1, line, to_ns  # noqa: E402
from hub.store import status  # noqa: E402
from hub.store.deliveries import period_rows  # noqa: E402
from hub.web.summary import summarize_rows  # noqa: E402

LIMA = ZoneInfo("America/Lima")
PERIOD = Period(2026, 11, 1)


def write(influx: InfluxV1, n: int, producers: int, stations: int) -> None:
    rng = random.Random(7)
    start = datetime(2026, 11, 1, 5, 0, tzinfo=LIMA)
    span_s = 15 * 86400 - 6 * 3600
    batch = []
    for i in range(n):
        accepted = rng.random() > 0.03
        station = i % stations
        batch.append(line("delivery", {"center": f"c{station // 3}", "station": f"s{station}",
                                       "producer": f"p{rng.randrange(producers):05d}"},
                          {"id": f"d{i}", "seq": i // stations + 1, "liters": round(rng.uniform(3, 40), 2),
                           "solids_pct": round(rng.gauss(11.8, 0.5), 2) if accepted else None,
                           "milk_temp_c": round(rng.uniform(10, 24), 1), "accepted": accepted,
                           "kind": "delivery"},
                          to_ns(start + timedelta(seconds=rng.randrange(span_s)))))
        if len(batch) == 5000:
            influx.write(batch)
            batch = []
    influx.write(batch)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=3_000)
    parser.add_argument("--stations", type=int, default=30)
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="dashboard-bench-", dir=REPO / ".run"))
    servers = Servers(run / "servers", free_port(), free_port())
    servers.start()
    try:
        influx = InfluxV1(servers.influxdb.url, "milk", timeout_s=120)
        influx.create_database()
        write(influx, args.deliveries, args.producers, args.stations)

        def report(phase: str, t0: float) -> None:
            print(json.dumps({"phase": phase, "deliveries": args.deliveries,
                              "total_s": round(time.perf_counter() - t0, 3)}), flush=True)

        t0 = time.perf_counter()
        rows, superseded = period_rows(influx, PERIOD, LIMA)
        rows = list(rows)
        report("read", t0)
        t0 = time.perf_counter()
        summary = summarize_rows(rows, LIMA, date(2026, 11, 3), superseded)
        assert summary.total.deliveries == args.deliveries
        report("tally", t0)
        t0 = time.perf_counter()
        status.stations(influx, LIMA)
        status.tanks(influx, LIMA)
        report("side", t0)

        from starlette.testclient import TestClient

        from hub.config import HubConfig
        from hub.web.app import Settings, create_app
        from hub.web.users import Users
        config = HubConfig.model_validate({"data_dir": str(run / "hub-data"), "influx": {
            "url": servers.influxdb.url, "database": "milk", "timeout_s": 120}})
        Users(run / "hub-data").add("bench", "bench-password")
        client = TestClient(create_app(Settings(config)))
        token = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"csrf": token, "user": "bench", "password": "bench-password", "next": "/"},
                    follow_redirects=False)
        t0 = time.perf_counter()
        page = client.get(f"/?period={PERIOD}")
        assert page.status_code == 200 and f">{args.deliveries}<" in page.text
        report("page", t0)
    finally:
        servers.stop()
        shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
