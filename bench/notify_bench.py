"""What notifications cost the hub (no network: the send is measured apart).

    .venv/bin/python bench/notify_bench.py [--deliveries 20000] [--producers 1000]

Prints:
- observe: what the ingest loop pays per stored delivery with `[notify]
  deliveries = true` (the observer runs after the batch is stored and before
  it is acknowledged): a hand-over to the notifier's thread;
- queue: that thread's rate of turning deliveries into queued messages
  (registry lookup, the message's words, SQLite insert keyed by delivery id,
  one transaction per batch);
- re-sent: the same deliveries observed again (the station re-sending):
  refused by the key, nothing queued.
- registry check: rows per second of a registry CSV whose every row has a
  `notify` URL checked with Apprise's own parser (`milk-hub producers import`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--producers", type=int, default=1000)
    args = parser.parse_args()

    from milk_common.contract.registry import read_registry_csv
    from hub.notify.deliveries import DeliveryNotifier, registry_lookup
    from hub.producers.registry import ProducerRegistry, registry_path

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv_path = folder / "producers.csv"
        csv_path.write_text("code,name,phone,notify\n" + "".join(
            f"P{i:04d},Productor {i},+5917{i:07d},json://gateway.local:8080/sms/{i}\n"
            for i in range(args.producers)), encoding="utf-8")
        read_registry_csv(csv_path)   # the first call loads Apprise's plugins (about 0.3 s)
        started = time.perf_counter()
        producers, lab = read_registry_csv(csv_path)
        check_s = time.perf_counter() - started
        registry = ProducerRegistry(registry_path(folder))
        registry.import_producers(producers, lab)
        registry.close()

        notifier = DeliveryNotifier(folder / "notify-deliveries.sqlite3", registry_lookup(folder),
                                    tz=ZoneInfo("America/La_Paz"), send=lambda *a: None)
        topic = "milk/v1/centro1/banco1/delivery"
        payloads = [json.dumps({"schema": "delivery/1", "id": f"d{i:08d}", "producer": f"P{i % args.producers:04d}",
                                "ts": "2026-11-03T06:05:00-04:00", "liters": 20.5, "solids_pct": 11.9,
                                "accepted": True, "receipt_code": "AB12-CD34"}).encode()
                    for i in range(args.deliveries)]
        started = time.perf_counter()
        for payload in payloads:
            notifier.observe(topic, payload)
        observe_s = time.perf_counter() - started
        started = time.perf_counter()
        notifier._drain()
        queue_s = time.perf_counter() - started
        started = time.perf_counter()
        for payload in payloads:
            notifier.observe(topic, payload)
        notifier._drain()
        again_s = time.perf_counter() - started
        queued = notifier.counts().get("pending", 0)
        notifier.stop()
    print(f"observe (in the ingest loop): {args.deliveries / observe_s:,.0f} deliveries/s "
          f"({observe_s / args.deliveries * 1e6:.1f} us each)")
    print(f"queue (worker thread): {args.deliveries / queue_s:,.0f} messages/s written "
          f"({queue_s / args.deliveries * 1e6:.0f} us each), {queued} queued")
    print(f"re-sent: {args.deliveries / again_s:,.0f} deliveries/s refused by id "
          f"({again_s / args.deliveries * 1e6:.0f} us each)")
    print(f"registry check: {args.producers / check_s:,.0f} rows/s with an Apprise URL each "
          f"({args.producers} rows in {check_s:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
