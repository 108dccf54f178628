"""The hub's ingest against Node-RED, side by side, in one run.

    .venv/bin/python bench/nodered_bench.py [--deliveries 20000] [--runs 3] [--two-hubs]

Both consumers get the same burst from the same publisher (the station's own
outbox publisher, QoS 1, window 100) through the same Mosquitto into the same
InfluxDB, one consumer at a time, live (the consumer is connected before the
burst starts). Node-RED runs two flows, as an integrator would build them:
- `batched`: mqtt in -> function (delivery/1 -> point) -> join (500 msgs or
  1 s) -> influxdb batch;
- `per-message`: mqtt in -> function -> influxdb out (one write per message).
The hub checks what Node-RED does not: the schema, the seal's hash chain and
the station's HMAC. Printed per consumer and run: deliveries stored per
second (first publish to the last point visible in InfluxDB), CPU time per
delivery (user + system of the consumer's processes), peak RSS, and how many
of the burst never arrived; then medians and the hub/Node-RED ratio.
`--two-hubs` adds a consumer `hubs2`: two `milk-hub ingest` processes sharing
the subscription (`[mqtt] shared_group`, one data folder, docs/scaling.md);
its CPU is the sum of both, its memory the larger of the two.

Node-RED (node-red 4.1 and node-red-contrib-influxdb 0.7, pinned in
bench/nodered/package.json) is installed by this script into
bench/nodered/node_modules with `npm install` the first time; without
node/npm the Node-RED rows are skipped with a message. Results are kept in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector_station.outbox.publisher import OutboxPublisher  # noqa: E402
from collector_station.outbox.store import Outbox  # noqa: E402
from devtools.fixtures import make_records, write_hub_config  # noqa: E402
from devtools.measure import peak_rss_mb, stored_deliveries as count  # noqa: E402
from devtools.measure import cpu_s as _cpu_s  # noqa: E402
from devtools.servers import Servers, ensure_installed, free_port  # noqa: E402
from hub.store.influx import InfluxV1  # noqa: E402
from milk_common.contract import station_topic  # noqa: E402

NODERED_DIR = REPO / "bench" / "nodered"
STATION_KEY = b"bench-key-0123456789"

# delivery/1 -> an InfluxDB point with the hub's layout (tags center, station,
# producer; the delivery's own time), nulls left out as the hub does.
POINT_FUNCTION = r"""
const d = msg.payload;
if (!d || d.schema !== "delivery/1") { return null; }
const fields = {};
for (const k of ["id", "seq", "liters", "solids_pct", "snf_pct", "fat_pct", "milk_temp_c",
                 "weight_kg", "density_15c", "accepted", "fat_source", "reject_reason",
                 "kind", "prev_hash", "hash", "hmac", "receipt_code"]) {
    if (d[k] !== null && d[k] !== undefined) { fields[k] = d[k]; }
}
msg.payload = {measurement: "delivery",
               tags: {center: d.center, station: d.station, producer: d.producer},
               fields: fields, timestamp: new Date(d.ts)};
return msg;
"""

def cpu_s(pid: int) -> float:
    """The consumer's CPU, Node-RED's waited-for children included."""
    return _cpu_s(pid, children=True)


def mqtt_client_settings(servers: Servers, user: str) -> dict:
    """How a consumer connects to the bench's broker (TLS and a user when the
    broker asks for them)."""
    settings = {"host": "127.0.0.1", "port": servers.mqtt_port}
    credentials = getattr(servers, "client_credentials", None)
    if credentials is not None:
        settings.update(credentials(user))
    return settings


# --------------------------------------------------------------- consumers
class HubConsumer:
    """One hub, or `hubs` hubs sharing the subscription (one config, one data
    folder, a client id each: `milk-hub ingest --client-id`)."""

    def __init__(self, work: Path, servers: Servers, database: str, hubs: int = 1) -> None:
        self.name = "hub" if hubs == 1 else f"hubs{hubs}"
        self.config = write_hub_config(work / "hub.toml", mqtt_port=servers.mqtt_port,
                                       influx_url=servers.influxdb.url, database=database,
                                       client_id=f"hub-{database}", data_dir=work / "hub-data")
        self.client_ids = [f"hub-{database}"] if hubs == 1 else [f"hub-{database}-{i + 1}" for i in range(hubs)]
        if hubs > 1:
            text = self.config.read_text()
            self.config.write_text(text.replace(f'client_id = "hub-{database}"\n',
                                                f'client_id = "hub-{database}"\n'
                                                f'shared_group = "bench{database}"\n', 1))
            self.statuses = [work / "hub-data" / f"ingest-status-{c}.json" for c in self.client_ids]
        else:
            self.statuses = [work / "hub-data" / "ingest-status.json"]
        self.log = open(work / "hub.log", "ab")
        self.procs: list[subprocess.Popen] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self) -> None:
        for client_id in self.client_ids:
            extra = ["--client-id", client_id] if len(self.client_ids) > 1 else []
            self.procs.append(subprocess.Popen([sys.executable, "-m", "hub", "--log-level", "WARNING",
                                                "ingest", "--config", str(self.config), *extra],
                                               stdout=self.log, stderr=self.log, cwd=REPO))
        deadline = time.monotonic() + 60
        for status, proc in zip(self.statuses, self.procs):
            while not (status.exists() and '"connected": true' in status.read_text()):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the hub did not connect; see {self.log.name}")
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            proc.wait(30)


class NodeRedConsumer:
    def __init__(self, work: Path, servers: Servers, database: str, batched: bool) -> None:
        self.name = "node-red " + ("batched" if batched else "per-message")
        self.user_dir = work / ("nodered-batched" if batched else "nodered-single")
        self.user_dir.mkdir(parents=True)
        self.log_path = self.user_dir / "node-red.log"
        mqtt = mqtt_client_settings(servers, "hub")
        url = servers.influxdb.url
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        broker = {"id": "mqttbroker01", "type": "mqtt-broker", "name": "mosquitto",
                  "broker": mqtt["host"], "port": str(mqtt["port"]),
                  "clientid": f"nodered-{database}", "autoConnect": True,
                  "usetls": bool(mqtt.get("tls_ca")), "protocolVersion": "4",
                  "keepalive": "60", "cleansession": False, "autoUnsubscribe": True}
        nodes = [{"id": "milkflow0001", "type": "tab", "label": "milk"}, broker,
                 {"id": "influxdb0001", "type": "influxdb", "hostname": host, "port": port,
                  "protocol": "http", "database": database, "name": "milk",
                  "usetls": False, "influxdbVersion": "1.x", "timeout": "10"},
                 {"id": "mqttin000001", "type": "mqtt in", "z": "milkflow0001", "topic": "milk/v1/+/+/delivery",
                  "qos": "1", "datatype": "json", "broker": "mqttbroker01", "nl": False, "rap": True,
                  "rh": 0, "inputs": 0, "wires": [["topoint0001"]]},
                 {"id": "topoint0001", "type": "function", "z": "milkflow0001", "func": POINT_FUNCTION,
                  "outputs": 1, "wires": [["joinbatch01" if batched else "influxout01"]]}]
        if mqtt.get("tls_ca"):
            nodes.append({"id": "tlsconfig001", "type": "tls-config", "ca": "", "caname": "",
                          "cert": "", "key": "", "verifyservercert": True,
                          "servername": "", "alpnprotocol": ""})
            nodes[-1]["ca"] = mqtt["tls_ca"]
            broker["tls"] = "tlsconfig001"
        if batched:
            nodes += [{"id": "joinbatch01", "type": "join", "z": "milkflow0001", "mode": "custom",
                       "build": "array", "property": "payload", "propertyType": "msg",
                       "count": "500", "timeout": "1", "joiner": "\\n", "joinerType": "str",
                       "accumulate": False, "reduceRight": False, "wires": [["influxout01"]]},
                      {"id": "influxout01", "type": "influxdb batch", "z": "milkflow0001", "influxdb": "influxdb0001",
                       "precision": "ms", "database": database, "wires": []}]
        else:
            nodes += [{"id": "influxout01", "type": "influxdb out", "z": "milkflow0001", "influxdb": "influxdb0001",
                       "measurement": "", "precision": "ms", "database": database, "wires": []}]
            # `influxdb out` takes [fields, tags] and the measurement from msg.
            nodes[4]["func"] = POINT_FUNCTION.replace(
                "return msg;", "msg.measurement = 'delivery';\n"
                "msg.payload = [Object.assign({time: msg.payload.timestamp}, msg.payload.fields),"
                " msg.payload.tags];\nreturn msg;")
        (self.user_dir / "flows.json").write_text(json.dumps(nodes))
        credentials = {}
        if mqtt.get("username"):
            credentials["mqttbroker01"] = {"user": mqtt["username"], "password": mqtt.get("password", "")}
        (self.user_dir / "flows_cred.json").write_text(json.dumps(credentials))
        (self.user_dir / "settings.js").write_text(
            "module.exports = {flowFile: 'flows.json', credentialSecret: false,"
            f" uiPort: {free_port()}, uiHost: '127.0.0.1', httpAdminRoot: false,"
            " httpNodeRoot: false, logging: {console: {level: 'info'}}};\n")
        self.proc: subprocess.Popen | None = None

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["node", str(NODERED_DIR / "node_modules" / "node-red" / "red.js"),
                                      "--userDir", str(self.user_dir),
                                      "--settings", str(self.user_dir / "settings.js")],
                                     stdout=self.log, stderr=self.log, cwd=self.user_dir)
        deadline = time.monotonic() + 90
        while "Connected to broker" not in self.log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"Node-RED did not connect; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def install_nodered() -> bool:
    if (NODERED_DIR / "node_modules" / "node-red" / "red.js").exists():
        return True
    if not (shutil.which("node") and shutil.which("npm")):
        print("node-red: skipped (node and npm are not installed: apt-get install -y nodejs npm)")
        return False
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"],
                            cwd=NODERED_DIR, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"node-red: skipped (npm install failed: {result.stderr.strip()[-300:]})")
        return False
    return True


# --------------------------------------------------------------- one run
def one_run(consumer, servers: Servers, database: str, records: list, work: Path) -> dict:
    influx = InfluxV1(servers.influxdb.url, database)
    influx.create_database()
    outbox = Outbox(work / f"station-{database}.sqlite3")
    topic = station_topic("bench", "s1", "delivery")
    for record in records:
        outbox.record_delivery(record, topic, STATION_KEY)
    consumer.start()
    try:
        cpu0 = sum(cpu_s(pid) for pid in consumer.pids)
        station = mqtt_client_settings(servers, "bench.s1")
        publisher = OutboxPublisher(outbox, center="bench", station="s1", host=station["host"],
                                    port=station["port"], max_inflight=100,
                                    **{k: v for k, v in station.items() if k not in ("host", "port")})
        t0 = time.perf_counter()
        publisher.start()
        n = len(records)
        deadline = time.monotonic() + 300
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            stored = count(influx)
            if stored >= n:
                break
            if stored != last:
                last, last_change = stored, time.monotonic()
            elif time.monotonic() - last_change > 20:
                break               # nothing new for 20 s: what is missing is lost
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        stored = count(influx)
        cpu = sum(cpu_s(pid) for pid in consumer.pids) - cpu0
        rss = max(peak_rss_mb(pid) for pid in consumer.pids)
        publisher.stop()
    finally:
        consumer.stop()
    return {"consumer": consumer.name, "stored": stored, "lost": n - stored,
            "per_s": stored / elapsed, "cpu_us": cpu / max(stored, 1) * 1e6, "rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-nodered", action="store_true")
    parser.add_argument("--two-hubs", action="store_true",
                        help="also two hubs sharing the subscription (consumer hubs2)")
    parser.add_argument("--only", choices=["hub", "hubs2", "batched", "single"], action="append",
                        help="run only these consumers (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep .run/bench-nr-PID (logs, flows)")
    args = parser.parse_args()
    ensure_installed(quiet=True)
    with_nodered = not args.skip_nodered and install_nodered()
    run_dir = REPO / ".run" / f"bench-nr-{os.getpid()}"
    servers = Servers(run_dir, free_port(), free_port())
    servers.start()
    # The bench's station, provisioned as in the field: its broker login, and its
    # key in the hub's key store (signatures are required by default).
    servers.provision_station("bench", "s1", key=STATION_KEY)
    results: list[dict] = []
    try:
        records = list(make_records(args.deliveries, center="bench", station="s1",
                                    start=datetime(2026, 11, 1, 5, 0, tzinfo=ZoneInfo("America/Lima"))))
        for run in range(args.runs):
            kinds = [k for k in ["hub"] + (["hubs2"] if args.two_hubs or "hubs2" in (args.only or []) else [])
                     + (["batched", "single"] if with_nodered else [])
                     if not args.only or k in args.only]
            for kind in kinds:
                database = f"b{run}{kind[:3]}{kind[-1] if kind == 'hubs2' else ''}"
                work = Path(tempfile.mkdtemp(prefix=f"{database}-", dir=run_dir))
                consumer = (HubConsumer(work, servers, database, hubs=2 if kind == "hubs2" else 1)
                            if kind.startswith("hub")
                            else NodeRedConsumer(work, servers, database, batched=kind == "batched"))
                row = one_run(consumer, servers, database, records, work)
                row["run"] = run + 1
                results.append(row)
                print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()}),
                      flush=True)
    finally:
        servers.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    print(f"medians over {args.runs} runs of {args.deliveries} deliveries:")
    medians = {}
    for name in dict.fromkeys(r["consumer"] for r in results):
        rows = [r for r in results if r["consumer"] == name]
        medians[name] = {k: statistics.median(r[k] for r in rows) for k in ("per_s", "cpu_us", "rss_mb")}
        lost = sum(r["lost"] for r in rows)
        print(f"  {name:22s} {medians[name]['per_s']:8.0f} deliveries/s  "
              f"{medians[name]['cpu_us']:6.0f} us CPU/delivery  {medians[name]['rss_mb']:5.0f} MB  lost {lost}")
    for hub in ("hub", "hubs2"):
        if "node-red batched" in medians and hub in medians and medians["node-red batched"]["per_s"]:
            ratio = medians[hub]["per_s"] / medians["node-red batched"]["per_s"]
            print(f"{hub} / node-red batched: {ratio:.2f}x deliveries/s")
    return 0 if all(r["lost"] == 0 for r in results if r["consumer"].startswith("hub")) else 1


if __name__ == "__main__":
    sys.exit(main())
