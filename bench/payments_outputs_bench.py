"""Benchmark of what `milk-hub payments` now writes besides statements.csv, per delivery and
per producer: lines.csv (each delivery's price in parts), the sanity checks, the text
statements (`statement_view`), and a sample of PDF statements and the pay sheet.

    .venv/bin/python bench/payments_outputs_bench.py [--deliveries N] [--producers M] [--pdfs K]

Deterministic data in memory (no servers): solids_bonus with a chilled bonus and [limits].
Prints one line per phase with its time and per-item cost.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.payments.checks import check_fortnight
from hub.payments.explain import lines_csv_text
from hub.payments.columnar import compute_fortnight_columnar
from hub.payments.periods import Period
from hub.payments.pricing import load_pricing
from hub.payments.records import Delivery
from hub.payments.statements import render_producer_statement

PRICING = Path(__file__).resolve().parent.parent / "tests" / "data" / "payments" / "pricing-explained.toml"


def deliveries(n: int, producers: int) -> list[Delivery]:
    rng = random.Random(20261101)
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    return [
        Delivery(f"d{i}", f"P{rng.randrange(producers):05d}", start + timedelta(seconds=rng.randrange(15 * 86400 - 7200)),
                 Decimal(rng.randrange(500, 6000)) / 100, Decimal(rng.randrange(1050, 1350)) / 100,
                 rng.random() > 0.02, milk_temp_c=Decimal(rng.randrange(20, 150)) / 10,
                 receipt_code=f"{rng.randrange(16**8):08X}")
        for i in range(n)
    ]


def timed(label: str, items: int, unit: str, work):
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:8.2f} s  {seconds / max(items, 1) * 1e6:9.1f} µs/{unit}  ({items} {unit}s)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=3_000)
    parser.add_argument("--pdfs", type=int, default=50, help="producer PDFs to draw (a sample)")
    args = parser.parse_args()
    pricing = load_pricing(PRICING)
    data = deliveries(args.deliveries, args.producers)
    period = Period(2026, 11, 1)
    fortnight = timed("engine (vectorised, with lines)", len(data), "delivery",
                      lambda: compute_fortnight_columnar(period, data, pricing))
    text = timed("lines.csv", len(data), "delivery", lambda: lines_csv_text(fortnight))
    print(f"{'':<34} lines.csv is {len(text) / 1e6:.1f} MB")
    found = timed("sanity checks", len(data), "delivery", lambda: check_fortnight(fortnight, (), None))
    print(f"{'':<34} {len(found)} warnings")
    rows = fortnight.rows
    timed("text statements", len(rows), "producer",
          lambda: [render_producer_statement(fortnight, row.producer) for row in rows])
    from hub.payments.pdf import planilla_pdf, producer_statement_pdf
    sample = rows[: args.pdfs]
    timed("PDF statements (sample)", len(sample), "producer",
          lambda: [producer_statement_pdf(fortnight, row.producer) for row in sample])
    timed("planilla.pdf", len(rows), "producer", lambda: planilla_pdf(fortnight))
    return 0


if __name__ == "__main__":
    sys.exit(main())
