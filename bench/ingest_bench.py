"""Throughput of the delivery path: station outbox -> broker -> hub -> InfluxDB.

    .venv/bin/python bench/ingest_bench.py [--deliveries 20000] [--hubs 2]

Starts its own Mosquitto and InfluxDB (devtools/servers.py, free ports,
data in .run/bench-PID) and a real `milk-hub ingest` process, and prints:
- outbox: deliveries committed per second at the station (SQLite WAL,
  synchronous=FULL: one fsync per delivery, as at the bench);
- publish: outbox rows sent and PUBACKed per second (QoS 1, one station);
- ingest: deliveries stored in InfluxDB per second, measured from a backlog
  the hub finds queued at the broker when it starts (the catch-up after an
  outage, the hub's hardest case), its CPU time per delivery (user + system,
  from its connection on) and its peak RSS. `--hubs 2`: two hubs sharing
  the subscription (`[mqtt] shared_group`, one data folder, a client id
  each; docs/scaling.md): CPU summed, RSS the larger.
Results are kept in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector_station.outbox.store import Outbox  # noqa: E402
from collector_station.outbox.publisher import OutboxPublisher  # noqa: E402
from milk_common.contract import station_topic  # noqa: E402
from devtools.servers import Servers, ensure_installed, free_port  # noqa: E402
from hub.store.influx import InfluxV1  # noqa: E402
from devtools.fixtures import make_records, write_hub_config  # noqa: E402
from devtools.measure import cpu_s, peak_rss_mb, stored_deliveries as count  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--hubs", type=int, default=1, help="hubs sharing the subscription")
    args = parser.parse_args()
    n = args.deliveries
    ensure_installed(quiet=True)
    run_dir = REPO / ".run" / f"bench-{os.getpid()}"
    servers = Servers(run_dir, free_port(), free_port())
    servers.start()
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=run_dir))
    hubs: list[subprocess.Popen] = []
    try:
        influx = InfluxV1(servers.influxdb.url, "bench")
        config = write_hub_config(work / "hub.toml", mqtt_port=servers.mqtt_port,
                                  influx_url=servers.influxdb.url, database="bench",
                                  client_id="hub-bench", data_dir=work / "hub-data")
        log = open(work / "hub.log", "ab")
        cmd = [sys.executable, "-m", "hub", "--log-level", "WARNING", "ingest", "--config", str(config)]
        if args.hubs > 1:
            config.write_text(config.read_text().replace(
                'client_id = "hub-bench"\n', 'client_id = "hub-bench"\nshared_group = "bench"\n', 1))
            client_ids = [f"hub-bench-{i + 1}" for i in range(args.hubs)]
            statuses = [work / "hub-data" / f"ingest-status-{c}.json" for c in client_ids]
            cmds = [cmd + ["--client-id", c] for c in client_ids]
        else:
            statuses, cmds = [work / "hub-data" / "ingest-status.json"], [cmd]

        def start_hubs() -> list[subprocess.Popen]:
            for status in statuses:
                status.unlink(missing_ok=True)
            return [subprocess.Popen(c, stdout=log, stderr=log, cwd=REPO) for c in cmds]

        def wait_connected() -> None:
            for status in statuses:
                while not (status.exists() and '"connected": true' in status.read_text()):
                    time.sleep(0.01)

        # Create the hubs' persistent sessions, then stop them: the backlog queues at the broker.
        hubs = start_hubs()
        wait_connected()
        for hub in hubs:
            hub.terminate()
            hub.wait()

        outbox = Outbox(work / "station.sqlite3")
        records = list(make_records(n, center="bench", station="s1",
                                    start=datetime(2026, 11, 1, 5, 0, tzinfo=ZoneInfo("America/Lima"))))
        topic = station_topic("bench", "s1", "delivery")
        key = b"bench-key-0123456789"
        # The station's TLS login and its key registered with the hub, as in production.
        access = servers.provision_station("bench", "s1", key=key)
        t0 = time.perf_counter()
        for record in records:
            outbox.record_delivery(record, topic, key)
        t_outbox = time.perf_counter() - t0

        publisher = OutboxPublisher(outbox, center="bench", station="s1", host="127.0.0.1",
                                    port=servers.mqtt_port, access=access, max_inflight=100)
        t0 = time.perf_counter()
        publisher.start()
        while outbox.backlog():
            time.sleep(0.01)
        t_publish = time.perf_counter() - t0
        publisher.stop()

        t0 = time.perf_counter()
        hubs = start_hubs()
        wait_connected()
        cpu0 = sum(cpu_s(h.pid) for h in hubs)
        deadline = time.monotonic() + 600
        while count(influx) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        t_ingest = time.perf_counter() - t0
        stored = count(influx)
        cpu = sum(cpu_s(h.pid) for h in hubs) - cpu0
        rss = max(peak_rss_mb(h.pid) for h in hubs)
        print(f"deliveries: {n}")
        print(f"outbox:  {n / t_outbox:8.0f} deliveries/s committed (fsync each)")
        print(f"publish: {n / t_publish:8.0f} messages/s PUBACKed (QoS 1, window 100)")
        print(f"ingest:  {stored / t_ingest:8.0f} deliveries/s stored in InfluxDB from a broker backlog"
              f" ({stored} of {n} in {t_ingest:.1f} s, hub start included)")
        print(f"hub CPU: {cpu / max(stored, 1) * 1e6:.0f} us per delivery"
              + (f" ({args.hubs} hubs sharing the subscription, summed)" if args.hubs > 1 else ""))
        print(f"hub peak RSS: {rss:.0f} MB" + (" (the larger)" if args.hubs > 1 else ""))
        return 0 if stored == n else 1
    finally:
        for hub in hubs:
            if hub.poll() is None:
                hub.terminate()
                hub.wait()
        servers.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
