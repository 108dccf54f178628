"""What recovery adds to each stored batch: the hub's index update and the
look for due requests (hub/recovery/), measured in process, without the
servers, so the number holds on a busy machine too.

    .venv/bin/python bench/recovery_bench.py [--deliveries 20000] [--batch 1000] [--stations 3]

Prints the time per batch and per delivery; compare with the ingest's own
time per delivery from bench/ingest_bench.py (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector_station.outbox.store import Outbox  # noqa: E402
from devtools.fixtures import make_records  # noqa: E402
from hub.config import HubRecovery  # noqa: E402
from hub.recovery.watch import INDEX_FILE, RecoveryWatch  # noqa: E402
from milk_common.contract import decode_station_message  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    messages = []
    per_station = args.deliveries // args.stations
    for s in range(args.stations):
        outbox = Outbox(work / f"s{s}.sqlite3")
        topic = f"milk/v1/c1/s{s}/delivery"
        for r in make_records(per_station, center="c1", station=f"s{s}",
                              start=datetime(2026, 11, 2, tzinfo=timezone.utc), seed=s):
            payload = outbox.record_delivery(r, topic, b"k" * 32)
            messages.append(decode_station_message(topic, json.dumps(payload).encode()))
        outbox.close()
    messages.sort(key=lambda m: m.ts)        # the stations' records interleaved, as at the broker
    best = float("inf")
    for _ in range(args.repeat):
        for name in (INDEX_FILE, INDEX_FILE + "-wal", INDEX_FILE + "-shm"):
            (work / name).unlink(missing_ok=True)
        watch = RecoveryWatch(HubRecovery(), work)
        began = time.perf_counter()
        for i in range(0, len(messages), args.batch):
            watch.handled(messages[i:i + args.batch])
            watch._last_tick = 0.0           # look for due requests after every batch
            watch.due(busy=False)
        best = min(best, time.perf_counter() - began)
        watch.index.close()
    batches = -(-len(messages) // args.batch)
    print(f"deliveries: {len(messages)} from {args.stations} stations, batches of {args.batch}")
    print(f"recovery:   {best / batches * 1000:.2f} ms per batch, "
          f"{best / len(messages) * 1e6:.2f} us per delivery (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
