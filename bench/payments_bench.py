"""Benchmark of the fortnight payment: a whole basin (900,000 deliveries, 30,000 producers).

    .venv/bin/python bench/payments_bench.py [--deliveries N --producers M] [--repeat R] [--reference] [--before]

Generates one fortnight of deliveries (deterministic), writes them to a CSV
and to an InfluxDB 1.x started here (devtools/servers.py, its own port and
data folder under .run/), then times, each phase in its own process so that
its peak memory (ru_maxrss) is its own, and prints one JSON line per phase
(``phase``, ``total_s``, ``peak_mb``, ...):

- ``raw``: reading the raw points of the fields payments reads (the query of
  `hub.store.columns`) with the generic client (`InfluxV1.query`: chunked
  JSON, one dict per point), the limit the issue names;
- ``raw_csv``: the same query answered as CSV, only cut into lines (the bytes
  off the socket: a tighter limit);
- ``influx``: ``milk-hub payments --csv-only`` from InfluxDB (statements.csv,
  lines.csv, statements.txt, warnings.txt), the real command in-process;
- ``csv``: the same command from the deliveries CSV (validating reader);
- ``reference`` (with --reference): the plain Decimal engine on the CSV, statements.csv;
- ``records`` (with --before): the per-delivery path of the InfluxDB read
  (`period_deliveries` + the vectorised engine + statements.csv, no lines.csv),
  which is what this benchmark measured before the columns.

``--repeat R`` runs raw, raw_csv and influx R times, interleaved, and the
summary line gives the medians and the ratios influx/raw and influx/raw_csv
(on a machine shared with other work, compare phases of one run only).
Results are recorded in bench/RESULTS-payments.md by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
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
    # The modules each phase starts from are imported before the clock starts (as before);
    # what `milk-hub payments` imports on its way is timed.
    from hub.cli import main as milk_hub
    from hub.payments.periods import Period
    from hub.payments.pricing import load_pricing
    from hub.store.columns import FIELDS, csv_blocks, period_query
    from hub.store.influx import InfluxV1

    tmp = Path(out_dir)
    pricing = load_pricing(tmp / "pricing.toml")
    period = Period.parse(PERIOD)
    influx = InfluxV1(url, database, timeout_s=300)
    config = tmp / "hub.toml"
    config.write_text(f'[influx]\nurl = "{url}"\ndatabase = "{database}"\ntimeout_s = 300\n')
    t0 = time.perf_counter()
    timings = {}
    result: dict = {}
    if name == "raw":
        result["points"] = sum(1 for _ in influx.query(period_query(period, pricing.zone, FIELDS), chunk_size=10000))
    elif name == "raw_csv":
        result["points"] = sum(block.count(b"\n") for block in csv_blocks(influx, period_query(period, pricing.zone)))
        result["points"] -= 1  # the header line
    elif name in ("influx", "csv"):
        out = tmp / f"out-{name}"
        args = ["payments", "--period", PERIOD, "--pricing", str(tmp / "pricing.toml"), "--out", str(out),
                "--csv-only", "--quiet", "--lang", "es"]
        args += ["--config", str(config)] if name == "influx" else ["--deliveries", csv_path]
        if milk_hub(args) != 0:
            raise SystemExit(f"milk-hub payments failed in phase {name}")
        (tmp / f"statements-{name}.csv").write_bytes((out / "statements.csv").read_bytes())
        result["lines_mb"] = round((out / "lines.csv").stat().st_size / 1e6, 1)
    else:
        from hub.payments.engine import compute_fortnight
        from hub.payments.columnar import compute_fortnight_columnar
        from hub.payments.records import read_deliveries_csv
        from hub.payments.statements import write_statements_csv
        from hub.store.deliveries import period_deliveries

        if name == "records":
            deliveries = list(period_deliveries(influx, period, pricing.timezone, 10000))
        else:
            deliveries = read_deliveries_csv(csv_path)
        timings["read_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if name == "reference":
            fortnight = compute_fortnight(period, deliveries, pricing, (), None)
        else:
            fortnight = compute_fortnight_columnar(period, deliveries, pricing, (), None, lines=False)
        timings["compute_s"] = time.perf_counter() - t1
        write_statements_csv(tmp / f"statements-{name}.csv", fortnight)
        result = {"producers": len(fortnight.rows), "deliveries": fortnight.total.deliveries,
                  "gross": str(fortnight.total.gross)}
    timings["total_s"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    timings["cpu_s"] = usage.ru_utime + usage.ru_stime  # this process's CPU (the imports included)
    return {"phase": name, **result, **{k: round(v, 2) for k, v in timings.items()},
            "peak_mb": round(usage.ru_maxrss / 1024)}


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    """The machine's load average and cores, for the record."""
    import os

    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=900_000)
    parser.add_argument("--producers", type=int, default=30_000)
    parser.add_argument("--reference", action="store_true", help="also time the plain Decimal engine")
    parser.add_argument("--before", action="store_true",
                        help="also time the per-delivery InfluxDB path (records, no lines.csv)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of raw, raw_csv and influx (medians)")
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
            timed = ["raw", "raw_csv", "influx"] * args.repeat
            phases = timed + ["csv"] + (["reference"] if args.reference else []) + (["records"] if args.before else [])
            results: dict[str, list[dict]] = {}
            server = int(influxdb.pidfile.read_text().split()[0])
            for name in phases:
                load = _load()
                server_cpu = _cpu_s(server)
                proc = subprocess.run(
                    [sys.executable, __file__, "--phase", name, "--csv", str(csv_path), "--url", influxdb.url,
                     "--database", args.database, "--dir", tmp], capture_output=True, text=True, timeout=1800)
                if proc.returncode:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                result["influxd_cpu_s"] = round(_cpu_s(server) - server_cpu, 2)  # the server's share
                result["load"] = load
                results.setdefault(name, []).append(result)
                print(json.dumps(result), flush=True)
            median = {name: statistics.median(r["total_s"] for r in runs) for name, runs in results.items()}
            cpu = {name: statistics.median(r["cpu_s"] for r in runs) for name, runs in results.items()}
            # Client and InfluxDB together: the work each phase costs the machine, which other
            # programs' load changes much less than the wall time.
            work = {name: statistics.median(r["cpu_s"] + r["influxd_cpu_s"] for r in runs)
                    for name, runs in results.items()}
            print(json.dumps({"phase": "summary", "runs": args.repeat,
                              **{f"{name}_s": round(value, 2) for name, value in median.items()},
                              "influx_over_raw": round(median["influx"] / median["raw"], 2),
                              "influx_over_raw_csv": round(median["influx"] / median["raw_csv"], 2),
                              "cpu_influx_over_raw": round(cpu["influx"] / cpu["raw"], 2),
                              "cpu_with_influxd_influx_over_raw": round(work["influx"] / work["raw"], 2),
                              "influx_peak_mb": max(r["peak_mb"] for r in results["influx"])}), flush=True)
            texts = {p: (tmp_path / f"statements-{p}.csv").read_text() for p in results if not p.startswith("raw")}
            same = len(set(texts.values())) == 1
            print(f"statements.csv identical across {', '.join(texts)}: {same}")
            return 0 if same else 1
    finally:
        influxdb.stop()
        import shutil
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
