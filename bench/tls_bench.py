"""What TLS and broker logins cost the delivery path: the same backlog through
the secure broker (TLS, password, ACL: the configuration every test and the
demo run) and through a plain anonymous one, alternately, in one run.

    .venv/bin/python bench/tls_bench.py [--deliveries 5000] [--rounds 2]

Per round and broker it prints the station's publish rate (QoS 1, PUBACKed)
and the hub's catch-up rate from a broker backlog (as bench/ingest_bench.py).
Alternating the two in one run keeps a busy machine from favouring either.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector_station.outbox.publisher import OutboxPublisher  # noqa: E402
from collector_station.outbox.store import Outbox  # noqa: E402
from devtools.fixtures import make_records, write_hub_config  # noqa: E402
from devtools.servers import (Servers, _launch, _port_open, ensure_installed, free_port,  # noqa: E402
                              stop_pid)
from hub.store.influx import InfluxV1  # noqa: E402
from devtools.measure import stored_deliveries as stored  # noqa: E402
from milk_common.contract import station_topic  # noqa: E402

KEY = b"bench-key-0123456789"


def plain_broker(folder: Path) -> int:
    """Mosquitto with the same queue settings, no TLS, anonymous clients."""
    port = free_port()
    (folder / "data").mkdir(parents=True)
    (folder / "mosquitto.conf").write_text(
        f"per_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        f"max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000\n"
        f"persistence true\npersistence_location {folder}/data/\nautosave_interval 10\n"
        f"log_dest file {folder}/mosquitto.log\n{'user root' if os.geteuid() == 0 else ''}\n")
    _launch("mosquitto", ["-c", str(folder / "mosquitto.conf")], folder / "mosquitto.stdout",
            folder / "mosquitto.server.pid", lambda: _port_open(port), 10)
    return port


def one_round(servers: Servers, work: Path, port: int, access, n: int, name: str) -> tuple[float, float]:
    work.mkdir()
    extra = "" if access else f'[integrity]\nkeys_file = "{servers.keys_path}"\n'
    config = write_hub_config(work / "hub.toml", mqtt_port=port, influx_url=servers.influxdb.url,
                              database=name, client_id=f"hub-{name}", data_dir=work / "hub-data",
                              extra=extra)
    cmd = [sys.executable, "-m", "hub", "--log-level", "WARNING", "ingest", "--config", str(config)]
    log = open(work / "hub.log", "ab")
    hub = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=REPO)
    status = work / "hub-data" / "ingest-status.json"
    while not (status.exists() and '"connected": true' in status.read_text()):
        if hub.poll() is not None:
            raise SystemExit(f"the hub did not start: {work / 'hub.log'}")
        time.sleep(0.05)
    hub.terminate()
    hub.wait()
    outbox = Outbox(work / "station.sqlite3")
    topic = station_topic("bench", "s1", "delivery")
    for record in make_records(n, center="bench", station="s1",
                               start=datetime(2026, 11, 1, 5, 0, tzinfo=ZoneInfo("America/Lima"))):
        outbox.record_delivery(record, topic, KEY)
    publisher = OutboxPublisher(outbox, center="bench", station="s1", host="127.0.0.1", port=port,
                                access=access, max_inflight=100)
    t0 = time.perf_counter()
    publisher.start()
    while outbox.backlog():
        time.sleep(0.01)
    t_publish = time.perf_counter() - t0
    publisher.stop()
    influx = InfluxV1(servers.influxdb.url, name)
    t0 = time.perf_counter()
    hub = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=REPO)
    while stored(influx) < n and time.perf_counter() - t0 < 600:
        time.sleep(0.05)
    t_ingest = time.perf_counter() - t0
    hub.terminate()
    hub.wait()
    return n / t_publish, stored(influx) / t_ingest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ensure_installed(quiet=True)
    run_dir = REPO / ".run" / f"bench-tls-{os.getpid()}"
    servers = Servers(run_dir, free_port(), free_port())
    servers.start()
    plain_dir = run_dir / "plain"
    try:
        plain_port = plain_broker(plain_dir)
        access = servers.provision_station("bench", "s1", key=KEY)
        print(f"deliveries per round: {args.deliveries}")
        for i in range(args.rounds):
            for label, port, acc in (("tls+login", servers.mqtt_port, access), ("plain", plain_port, None)):
                name = f"{label.split('+')[0]}{i}"
                publish, ingest = one_round(servers, run_dir / name, port, acc, args.deliveries, name)
                print(f"{label:10s} round {i}: publish {publish:7.0f} messages/s PUBACKed, "
                      f"ingest {ingest:7.0f} deliveries/s stored", flush=True)
    finally:
        stop_pid(plain_dir / "mosquitto.server.pid")
        servers.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
