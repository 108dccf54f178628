"""The fault drill, `make chaos` (docs/recovery.md): real Mosquitto and
InfluxDB, three stations recording deliveries and tank samples while the
drill kills -9 a station twice, kills -9 the broker while the hub is away,
stops InfluxDB for a minute and kills -9 the hub. At the end every record
the stations hold is looked for in InfluxDB and one line says how it went:

    chaos: recorded=N stored=N lost=L duplicated=D tank_recorded=N tank_stored=N tank_lost=L

Exit status 1 on any loss or duplicate. Progress goes to standard error.

Each station is a real process (`python -m devtools.chaos station ...`)
with its real database, driving the station's own outbox and MQTT publisher
without instruments: it records a delivery (and a sample of each tank) every
`--interval-s`, as a bench would, only faster.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PY = sys.executable
CENTER = "chaos"
TANKS = ("t1", "t2")
START = datetime(2026, 11, 16, 5, 0, tzinfo=ZoneInfo("America/Lima"))


def say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- one station (a child process) ---------------------------------------------------
def run_station(args: argparse.Namespace) -> int:
    """Record deliveries until `--count`, then keep serving the hub's replay
    requests until SIGTERM."""
    from collector_station.outbox.publisher import OutboxPublisher
    from collector_station.outbox.store import Outbox
    from devtools.fixtures import make_records
    from milk_common.contract import station_topic
    from milk_common.integrity import parse_key
    from milk_common.mqtt import MqttAccess

    fragment = tomllib.loads(Path(args.access).read_text())
    mqtt = dict(fragment["mqtt"])
    host, port = mqtt.pop("host"), mqtt.pop("port")
    access = MqttAccess(**mqtt)
    key = parse_key(fragment["integrity"]["hmac_key"])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(True))
    outbox = Outbox(Path(args.db))
    publisher = OutboxPublisher(outbox, center=CENTER, station=args.station, host=host, port=port,
                                access=access, reconnect_max_s=1.0, status_interval_s=10.0).start()
    delivery_topic = station_topic(CENTER, args.station, "delivery")
    seed = sum(map(ord, args.station)) * 100_000
    while not stopping and outbox.last_seq() < args.count:
        i = outbox.last_seq()            # a restarted station goes on where its database is
        when = START + timedelta(minutes=i)
        (record,) = make_records(1, center=CENTER, station=args.station, start=when, seed=seed + i)
        outbox.record_delivery(record, delivery_topic, key)
        for tank in TANKS:
            outbox.add_tank_sample(tank, when.isoformat(timespec="milliseconds"), 3.5 + (i % 9) / 10)
        outbox.batch_tank_samples(lambda tank: station_topic(CENTER, args.station, "tank", tank),
                                  {"center": CENTER, "station": args.station}, args.tank_batch)
        publisher.wake()
        time.sleep(args.interval_s)
    outbox.batch_tank_samples(lambda tank: station_topic(CENTER, args.station, "tank", tank),
                              {"center": CENTER, "station": args.station}, args.tank_batch, force=True)
    publisher.wake()
    while not stopping:
        time.sleep(0.2)
    publisher.stop()
    outbox.close()
    return 0


# -- the drill -----------------------------------------------------------------------
class StationProcess:
    def __init__(self, name: str, folder: Path, access_file: Path, count: int, interval_s: float):
        self.name, self.folder = name, folder
        self.db = folder / "station.sqlite3"
        self.args = [PY, "-m", "devtools.chaos", "station", "--station", name, "--db", str(self.db),
                     "--access", str(access_file), "--count", str(count),
                     "--interval-s", str(interval_s)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.folder / "station.log", "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, start_new_session=True)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def _query(self, sql: str):
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def progress(self) -> tuple[int, int]:
        """(deliveries recorded, outbox messages not yet PUBACKed)."""
        try:
            ((last,),) = self._query("SELECT COALESCE(MAX(seq), 0) FROM deliveries")
            ((backlog,),) = self._query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
        except sqlite3.Error:
            return 0, 0
        return last, backlog

    def recorded(self) -> tuple[list[str], set[tuple[str, str, int]]]:
        from hub.store.influx import to_ns
        ids = [r[0] for r in self._query("SELECT id FROM deliveries")]
        samples = set()
        for (text,) in self._query("SELECT payload FROM tank_messages"):
            batch = json.loads(text)
            for s in batch["samples"]:
                samples.add((self.name, batch["tank"], to_ns(datetime.fromisoformat(s["ts"]))))
        return ids, samples


class HubProcess:
    def __init__(self, config: Path, log: Path):
        self.config, self.log = config, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([PY, "-m", "hub", "ingest", "--config", str(self.config)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def influx_state(influx) -> tuple[Counter, set[tuple[str, str, int]]]:
    """Delivery ids (with how many points each) and tank sample keys in InfluxDB."""
    from hub.store.influx import InfluxError
    try:
        ids = Counter(r["id"] for r in influx.query(
            f"SELECT id FROM delivery WHERE center = '{CENTER}'"))
        tanks = {(r["station"], r["tank"], int(r["time"])) for r in influx.query(
            f"SELECT temp_c, station, tank FROM tank_temperature WHERE center = '{CENTER}'")}
    except InfluxError:
        return Counter(), set()
    return ids, tanks


def drill(args: argparse.Namespace) -> int:
    from devtools.fixtures import write_hub_config
    from devtools.servers import Servers, ensure_installed, free_port
    from hub.store.influx import InfluxV1

    ensure_installed(quiet=True)
    run_dir = Path(args.dir).resolve()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    os.chmod(run_dir, 0o755)
    srv = Servers(run_dir / "servers", free_port(), free_port())
    stations: list[StationProcess] = []
    hub = None
    began = time.monotonic()
    try:
        srv.start()
        say(f"servers up: mqtt {srv.mqtt_port}, influxdb {srv.influxdb.url}, data in {run_dir}")
        for i in range(args.stations):
            name = f"s{i + 1}"
            folder = run_dir / name
            folder.mkdir()
            access_file = folder / "access.toml"
            access_file.write_text(srv.station_mqtt(CENTER, name))
            access_file.chmod(0o600)
            stations.append(StationProcess(name, folder, access_file, args.deliveries, args.interval_s))
        config = write_hub_config(
            run_dir / "hub.toml", mqtt_port=srv.mqtt_port, influx_url=srv.influxdb.url,
            database="chaos", client_id="hub-chaos", data_dir=run_dir / "hub-data",
            extra=(f"[recovery]\nask_after_s = {args.ask_after_s}\nretry_s = {args.retry_s}\n"))
        hub = HubProcess(config, run_dir / "hub.log")
        hub.start()
        for station in stations:
            station.start()
        influx = InfluxV1(srv.influxdb.url, "chaos")

        def at(t: float, what: str) -> None:
            wait = began + t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            say(what + "  " + " ".join(f"{s.name}={s.progress()[0]}" for s in stations))

        victim = stations[0]
        at(15, f"kill -9 station {victim.name}")
        victim.kill()
        time.sleep(2)
        victim.start()
        at(30, "hub away (stopped for maintenance)")
        hub.stop()
        at(38, "kill -9 the broker while the hub is away")
        srv.mosquitto.kill()
        time.sleep(2)
        srv.mosquitto.start()
        at(45, "hub back")
        hub.start()
        at(60, f"kill -9 station {victim.name} again")
        victim.kill()
        time.sleep(2)
        victim.start()
        at(75, "InfluxDB stopped for 60 s")
        srv.influxdb.stop()
        at(135, "InfluxDB back")
        srv.influxdb.start()
        at(150, "kill -9 the hub")
        hub.kill()
        time.sleep(3)
        hub.start()
        say("waiting for the stations to finish recording")
        deadline = time.monotonic() + args.settle_s
        while time.monotonic() < deadline:
            if all(s.progress() == (args.deliveries, 0) for s in stations):
                break
            time.sleep(1)
        expected_ids, expected_tank = [], set()
        for s in stations:
            ids, samples = s.recorded()
            expected_ids += ids
            expected_tank |= samples
        say(f"recorded {len(expected_ids)} deliveries and {len(expected_tank)} tank samples; "
            "waiting for InfluxDB to hold them all")
        while time.monotonic() < deadline:
            ids, tanks = influx_state(influx)
            if set(expected_ids) <= set(ids) and expected_tank <= tanks:
                break
            time.sleep(2)
        time.sleep(args.quiet_s)   # anything still arriving (a duplicate) arrives now
        ids, tanks = influx_state(influx)
    finally:
        for station in stations:
            station.stop()
        if hub is not None:
            hub.stop()
        srv.stop()
    recorded = set(expected_ids)
    stored = sum(1 for i in recorded if ids.get(i))
    duplicated = sum(n - 1 for n in ids.values() if n > 1) + (len(expected_ids) - len(recorded))
    strangers = set(ids) - recorded
    tank_stored = len(expected_tank & tanks)
    if strangers or tanks - expected_tank:
        say(f"InfluxDB holds {len(strangers)} deliveries and {len(tanks - expected_tank)} tank "
            "samples no station recorded")
    asked = Counter()      # what the hub asked for again, over all its runs (its log)
    for match in re.finditer(r"for (delivery|tank) (\d+)-(\d+) again", (run_dir / "hub.log").read_text()):
        asked[match[1]] += int(match[3]) - int(match[2]) + 1
    say(f"drill took {time.monotonic() - began:.0f} s; the hub asked the stations again for "
        f"{asked['delivery']} deliveries and {asked['tank']} tank batches; "
        f"files in {run_dir} (hub.log, s*/station.log)")
    lost = len(recorded) - stored
    tank_lost = len(expected_tank) - tank_stored
    print(f"chaos: recorded={len(expected_ids)} stored={stored} lost={lost} duplicated={duplicated} "
          f"tank_recorded={len(expected_tank)} tank_stored={tank_stored} tank_lost={tank_lost}",
          flush=True)
    bad = lost or duplicated or tank_lost or strangers or (tanks - expected_tank)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.chaos", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    st = sub.add_parser("station", help="(internal) one simulated station")
    st.add_argument("--station", required=True)
    st.add_argument("--db", required=True)
    st.add_argument("--access", required=True, help="the station's [mqtt]/[integrity] TOML fragment")
    st.add_argument("--count", type=int, required=True)
    st.add_argument("--interval-s", type=float, default=0.15)
    st.add_argument("--tank-batch", type=int, default=10)
    parser.add_argument("--dir", default=str(Path(__file__).resolve().parent.parent / ".run" / "chaos"))
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=0.15,
                        help="between one station's deliveries (1,000 take about 3 minutes)")
    parser.add_argument("--ask-after-s", type=float, default=10.0)
    parser.add_argument("--retry-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=240.0,
                        help="longest wait after the last fault for everything to be stored")
    parser.add_argument("--quiet-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.command == "station":
        return run_station(args)
    return drill(args)


if __name__ == "__main__":
    sys.exit(main())
