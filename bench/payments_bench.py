"""Benchmark of the fortnight payment: a whole basin (900,000 deliveries, 30,000 producers).

    .venv/bin/python bench/payments_bench.py [--deliveries N --producers M] [--reference]

Generates one fortnight of deliveries (deterministic), writes them to a CSV
and to an InfluxDB 1.x started here (devtools/servers.py, its own port and
data folder under .run/), then times, each phase in its own process so that
its peak memory (ru_maxrss) is its own:

- ``raw``: reading the raw points from InfluxDB (chunked query + JSON), the limit;
- ``influx``: `milk-hub payments` work from InfluxDB: read, vectorised engine, statements.csv;
- ``csv``: the same from the CSV file;
- ``reference`` (with --reference): the plain Decimal engine on the CSV, for comparison.

Results are recorded in bench/RESULTS-payments.md by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PERIOD = "2026-11-1"
PRICING = """timezone = "America/Lima"
currency = "PEN"
[price]
scheme = "solids_bonus"
base_per_liter = "1.03"
reference_solids_pct = "11.5"
bonus_per_tenth = "0.01"
penalty_per_tenth = "0.015"
chilled_bonus_per_liter = "0.02"
chilled_max_temp_c = "8"
[fees]
contribution_per_liter = "0.02"
"""


def generate(n: int, producers: int, csv_path: Path, influx) -> None:
    """n deliveries spread over 2026-11-01..15 Lima time, CSV and InfluxDB at once."""
    from hub.store.influx import line

    rng = random.Random(6)
    start_ns = 1_793_509_200 * 10**9  # 2026-11-01T00:00:00-05:00
    span_s = 15 * 86400
    step = span_s / n
    batch: list[str] = []
    with open(csv_path, "w") as out:
        out.write("id,producer,ts,liters,solids_pct,accepted,milk_temp_c,center,station\n")
        for i in range(n):
            number = rng.randrange(producers)
            producer = f"p{number:05d}"
            center = f"c{number % 300}"  # a producer delivers to one center: one series per producer
            ts_ns = start_ns + int(i * step * 1e9)
            liters = rng.randint(200, 6000) / 100
            solids = rng.randint(980, 1320) / 100
            accepted = rng.random() > 0.02
            temp = rng.randint(30, 140) / 10
            seconds = ts_ns // 10**9
            iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))
            out.write(f"d{i},{producer},{iso},{liters:.2f},{solids:.2f},{'true' if accepted else 'false'},"
                      f"{temp:.1f},{center},b1\n")
            batch.append(line("delivery", {"center": center, "station": "b1", "producer": producer},
                              {"id": f"d{i}", "liters": liters, "solids_pct": solids, "milk_temp_c": temp,
                               "accepted": accepted}, ts_ns))
            if len(batch) == 5000:
                influx.write(batch)
                batch = []
        influx.write(batch)


def phase(name: str, csv_path: str, url: str, database: str, out_dir: str) -> dict:
    """One measured phase (run in a child process)."""
    from hub.store.influx import InfluxV1
    from hub.payments.engine import compute_fortnight
    from hub.payments.fast import compute_fortnight_fast
    from hub.payments.periods import Period
    from hub.payments.pricing import load_pricing
    from hub.payments.records import read_deliveries_csv
    from hub.payments.statements import write_statements_csv
    from hub.store.deliveries import period_deliveries

    pricing = load_pricing(Path(out_dir) / "pricing.toml")
    period = Period.parse(PERIOD)
    influx = InfluxV1(url, database, timeout_s=300)
    t0 = time.perf_counter()
    timings = {}
    if name == "raw":
        start, end = period.bounds(pricing.timezone)
        q = ("SELECT id, liters, solids_pct, accepted, milk_temp_c, producer FROM delivery "
             f"WHERE time >= '{start.isoformat()}' AND time < '{end.isoformat()}'")
        count = sum(1 for _ in influx.query(q, chunk_size=10000))
        result = {"points": count}
    else:
        if name == "influx":
            deliveries = list(period_deliveries(influx, period, pricing.timezone, 10000, progress=True))
        else:
            deliveries = read_deliveries_csv(csv_path)
        timings["read_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        engine = compute_fortnight if name == "reference" else compute_fortnight_fast
        kwargs = {} if name == "reference" else {"lines": False}
        fortnight = engine(period, deliveries, pricing, (), None, **kwargs)
        timings["compute_s"] = time.perf_counter() - t1
        write_statements_csv(Path(out_dir) / f"statements-{name}.csv", fortnight)
        result = {"producers": len(fortnight.rows), "deliveries": fortnight.total.deliveries,
                  "gross": str(fortnight.total.gross)}
    timings["total_s"] = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": name, **result, **{k: round(v, 2) for k, v in timings.items()}, "peak_mb": round(peak_mb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=900_000)
    parser.add_argument("--producers", type=int, default=30_000)
    parser.add_argument("--reference", action="store_true", help="also time the plain Decimal engine")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--database", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.csv, args.url, args.database, args.dir)))
        return 0

    from devtools.servers import REPO as ROOT
    from devtools.servers import InfluxDB, ensure_installed, free_port
    from hub.store.influx import InfluxV1

    ensure_installed(quiet=True)
    run_dir = ROOT / ".run" / f"bench-payments-{int(time.time())}"
    influxdb = InfluxDB(run_dir, free_port())
    influxdb.start()
    try:
        with tempfile.TemporaryDirectory(prefix="payments-bench-") as tmp:
            tmp_path = Path(tmp)
            (tmp_path / "pricing.toml").write_text(PRICING)
            influx = InfluxV1(influxdb.url, args.database, timeout_s=120)
            influx.create_database()
            csv_path = tmp_path / "deliveries.csv"
            t0 = time.perf_counter()
            generate(args.deliveries, args.producers, csv_path, influx)
            print(f"generated {args.deliveries:,} deliveries for {args.producers:,} producers "
                  f"(CSV + InfluxDB) in {time.perf_counter() - t0:.1f} s", flush=True)
            phases = ["raw", "influx", "csv"] + (["reference"] if args.reference else [])
            results = []
            for name in phases:
                proc = subprocess.run(
                    [sys.executable, __file__, "--phase", name, "--csv", str(csv_path), "--url", influxdb.url,
                     "--database", args.database, "--dir", tmp], capture_output=True, text=True, timeout=1200)
                if proc.returncode:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(result)
                print(json.dumps(result), flush=True)
            texts = {p: (tmp_path / f"statements-{p}.csv").read_text() for p in phases if p != "raw"}
            same = len(set(texts.values())) == 1
            print(f"statements.csv identical across {', '.join(texts)}: {same}")
            return 0 if same else 1
    finally:
        influxdb.stop()
        import shutil
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
