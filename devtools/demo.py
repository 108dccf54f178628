"""`make demo`: one simulated fortnight at one center, end to end.

Two benches with virtual scales, densimeters and tank probes (pseudo-
terminals and a fake 1-Wire folder read by the station's real drivers),
20 producers delivering twice a day over 2026-11-1, through Mosquitto and
the hub into InfluxDB; then `milk-hub payments` reads the period back from
InfluxDB and prints the statement. The run checks that the statement's
total litres equal the accepted litres the stations recorded.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from decimal import Decimal, ROUND_HALF_UP
from zoneinfo import ZoneInfo

from collector_station.config import load_station_config
from collector_station.intake.keypad import apply, parse_keypad
from collector_station.instruments.simulate import SimulatedBench
from collector_station.station import Station
from hub.store.influx import InfluxV1

from .servers import REPO, Servers, free_port

RUN = REPO / ".run" / "demo"
CENTER = "centro1"
PERIOD = "2026-11-1"
LIMA = ZoneInfo("America/Lima")
PRODUCERS = [f"p{i:03d}" for i in range(1, 21)]


def schedule(station_producers: list[str], seed: int) -> list[tuple[datetime, str, float, float, float]]:
    """(time, producer, kg, density g/mL, milk °C) for 15 days, two milkings a day."""
    rng = random.Random(seed)
    plan = []
    for day in range(1, 16):
        for hour, minute in ((6, 0), (16, 30)):
            t = datetime(2026, 11, day, hour, minute, tzinfo=LIMA)
            for producer in station_producers:
                t += timedelta(seconds=rng.randint(40, 120))
                # Small producers: 3.5–6 L per cow, a few cows (context.md).
                kg = round(rng.uniform(6.0, 42.0), 2)
                density = round(rng.gauss(1.0305, 0.0013), 4)
                temp = round(rng.uniform(14.0, 24.0), 1)
                plan.append((t, producer, kg, density, temp))
    return plan


class SimClock:
    """The station's clock, set by the demo to each delivery's simulated time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 5, 0, tzinfo=LIMA)

    def __call__(self) -> datetime:
        return self.now


def run_bench(station: Station, bench: SimulatedBench, clock: SimClock, plan, recorded: list,
              errors: list) -> None:
    rng = random.Random(station.config.station)
    try:
        last_seq = 0
        for ts, producer, kg, density, temp in plan:
            clock.now = ts
            # The operator's keys: code, alcohol test, then ACCEPT once the
            # quality shows. About 1 in 50 cans fails the alcohol test.
            apply(station, parse_keypad(producer))
            alcohol_ok = rng.random() > 0.02
            apply(station, parse_keypad("ap" if alcohol_ok else "af"))
            if alcohol_ok:
                bench.scale.place(kg)
                bench.densimeter.measure(density, temp)
                station.wait_confirmation()     # ACCEPT counts once the values show
                apply(station, parse_keypad("+"))
            delivery = station.wait_for_delivery(last_seq, timeout_s=10)
            if delivery is None:
                raise RuntimeError(f"{station.config.station}: no delivery for {producer} at {ts}")
            last_seq = delivery["seq"]
            recorded.append(delivery)
            if not alcohol_ok:
                continue
            for tank in bench.tanks.values():
                tank.add_milk(kg / density, temp)
                tank.advance(90)
            bench.scale.remove()
            deadline = time.monotonic() + 5
            while station.scale.state != "empty" and time.monotonic() < deadline:
                time.sleep(0.005)
    except Exception as exc:  # reported by main
        errors.append(exc)


def start_servers() -> tuple[Servers, bool]:
    for mqtt_port, influx_port in ((18830, 18086), (free_port(), free_port())):
        servers = Servers(RUN / "servers", mqtt_port, influx_port)
        try:
            return servers, servers.start()
        except RuntimeError as exc:
            print(f"  ({exc}; trying other ports)")
    raise SystemExit("cannot start the servers")


def main() -> int:
    t0 = time.monotonic()
    print("== Demo: one fortnight (2026-11-1) at centro1, two benches, 20 producers ==")
    for sub in ("bench1", "bench2", "hub-data", "statements"):
        shutil.rmtree(RUN / sub, ignore_errors=True)
    servers, started = start_servers()
    print(f"servers: mosquitto 127.0.0.1:{servers.mqtt_port} (TLS, logins, ACL: CA "
          f"{servers.security.ca_file.relative_to(REPO)}), influxdb {servers.influxdb.url}")
    hub: list = []
    try:
        return run_demo(servers, hub, t0)
    finally:
        for process in hub:
            if process.poll() is None:
                process.terminate()
                process.wait(15)
        if started:   # stop what this run started, leave what was running before
            servers.stop()


def run_demo(servers: Servers, hub_processes: list, t0: float) -> int:
    influx = InfluxV1(servers.influxdb.url, "milk")
    influx.drop_database()   # a re-run starts from a clean slate
    influx.create_database()

    hub_config = RUN / "hub.toml"
    hub_config.write_text(f'''timezone = "America/Lima"
data_dir = "{RUN / 'hub-data'}"
[mqtt]
port = {servers.mqtt_port}
client_id = "milk-hub-demo"
{servers.security.hub_mqtt_lines()}[influx]
url = "{servers.influxdb.url}"
database = "milk"
[integrity]
keys_file = "{servers.keys_path}"
[broker]
dir = "{servers.security.dir}"
pid_file = "{servers.mosquitto.pidfile}"
''')
    hub_log = open(RUN / "hub.log", "ab")
    hub = subprocess.Popen([sys.executable, "-m", "hub", "--log-level", "WARNING", "ingest",
                            "--config", str(hub_config)], stdout=hub_log, stderr=hub_log)
    hub_processes.append(hub)
    stations, benches, threads, recorded, errors = [], [], [], [], []
    try:
        # The hub's persistent session must exist before stations publish:
        # a broker drops messages for which no session has subscribed.
        status_file = RUN / "hub-data" / "ingest-status.json"
        deadline = time.monotonic() + 20
        while not (status_file.exists() and '"connected": true' in status_file.read_text()):
            if time.monotonic() > deadline or hub.poll() is not None:
                raise SystemExit(f"the hub did not start: see {RUN / 'hub.log'}")
            time.sleep(0.1)
        halves = [PRODUCERS[:10], PRODUCERS[10:]]
        for i, producers in enumerate(halves, start=1):
            bench = SimulatedBench(RUN / f"bench{i}", tanks=1, seed=i, frame_interval_s=0.01,
                                   settle_s=0.03).start()
            config_path = RUN / f"station{i}.toml"
            config_path.write_text(bench.station_config_text(
                center=CENTER, station=f"banco{i}", mqtt_port=servers.mqtt_port,
                data_dir=str(RUN / f"bench{i}" / "data"), stable_window_s=0.03,
                access=servers.station_mqtt(CENTER, f"banco{i}")))   # TLS login + key
            registry_csv = RUN / f"bench{i}" / "producers.csv"
            registry_csv.write_text("code,name\n" + "".join(f"{p},Productor {p[1:]}\n" for p in PRODUCERS))
            config = load_station_config(config_path)
            from collector_station.intake.registry import Registry
            registry = Registry(Path(config.data_dir) / "registry.sqlite3")
            registry.import_csv(registry_csv)
            registry.close()
            config = config.model_copy(update={"thermometers": config.thermometers.model_copy(
                update={"interval_s": 0.5})})
            clock = SimClock()
            receipts = open(RUN / f"bench{i}" / "receipts.txt", "w", encoding="utf-8")
            station = Station(config, clock=clock, display=lambda msg: None,
                              printer=receipts.write).start()
            if not station.wait_ready():
                raise RuntimeError("the simulated instruments did not open")
            stations.append(station)
            benches.append(bench)
            plan = schedule(producers, seed=i)
            threads.append(threading.Thread(target=run_bench,
                                            args=(station, bench, clock, plan, recorded, errors)))
        print("benches: banco1 (p001–p010) and banco2 (p011–p020); recording 600 deliveries ...")
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        print(f"recorded {len(recorded)} deliveries in {time.monotonic() - t0:.0f} s; "
              "waiting for the hub to store them ...")
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline:
            rows = list(influx.query("SELECT COUNT(liters) FROM delivery"))
            count = rows[0]["count"] if rows else 0
            if count == len(recorded) and all(s.outbox.backlog() == 0 for s in stations):
                break
            time.sleep(0.3)
        print(f"InfluxDB holds {count} deliveries")
        if count != len(recorded):
            print("ERROR: not every delivery reached InfluxDB", file=sys.stderr)
            return 1
    finally:
        for station in stations:
            station.stop()
        for bench in benches:
            bench.stop()

    from hub.cli import main as hub_main
    print()
    status = hub_main(["--log-level", "WARNING", "payments", "--period", PERIOD,
                       "--pricing", str(REPO / "examples" / "pricing.toml"),
                       "--out", str(RUN / "statements"), "--config", str(hub_config),
                       "--producers", str(RUN / "bench1" / "producers.csv")])   # names on statements
    if status:
        return status
    accepted = sum(Decimal(repr(d["liters"])) for d in recorded if d["accepted"])
    accepted_2dp = accepted.quantize(Decimal("0.01"), ROUND_HALF_UP)
    total_row = next(line for line in (RUN / "statements" / "statements.csv").read_text().splitlines()
                     if ",TOTAL," in line)
    statement_liters = Decimal(total_row.split(",")[4])
    print(f"\nstations recorded {accepted_2dp} accepted litres; the statement's TOTAL says "
          f"{statement_liters} L: {'OK' if statement_liters == accepted_2dp else 'MISMATCH'}")
    rejected = sum(1 for d in recorded if not d["accepted"])
    print(f"{rejected} cans were rejected at the bench (alcohol test) and are listed at zero")
    print(f"statements: {RUN / 'statements'} (statements.csv, one printable file per producer)")
    print(f"receipts:   {RUN / 'bench1' / 'receipts.txt'}, {RUN / 'bench2' / 'receipts.txt'}")
    print(f"demo took {time.monotonic() - t0:.0f} s")
    from .dashboard_demo import prepare as prepare_dashboard
    print(prepare_dashboard(RUN))
    return 0 if statement_liters == accepted_2dp else 1


if __name__ == "__main__":
    sys.exit(main())
