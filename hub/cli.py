"""`milk-hub`: the central service and the officers' tools.

    milk-hub ingest --config hub.toml
    milk-hub payments --period 2026-11-1 [--deliveries CSV] --pricing pricing.toml
                      [--advances CSV] --out DIR [--config hub.toml] [--lang es|en]
    milk-hub export --period 2026-11-1 --out deliveries.csv [--config hub.toml]

Exit status 0 on success; 2 with a one-line reason on standard error for a
user's mistake. Never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from milk_common.cli import OneLineParser, run_commands

from .errors import UserError

log = logging.getLogger("milk-hub")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="milk-hub", description="Milk collection hub")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ing = sub.add_parser("ingest", help="store MQTT messages in InfluxDB")
    ing.add_argument("--config", required=True, help="hub.toml")

    pay = sub.add_parser("payments", help="compute a fortnight's statements")
    pay.add_argument("--period", required=True, help="YYYY-MM-1 or YYYY-MM-2")
    pay.add_argument("--deliveries", help="deliveries CSV (default: read InfluxDB)")
    pay.add_argument("--pricing", required=True, help="pricing TOML")
    pay.add_argument("--advances", help="advances CSV")
    pay.add_argument("--out", required=True, help="output folder")
    pay.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"),
                     help="hub.toml, for InfluxDB (default $MILK_HUB_CONFIG or local defaults)")
    pay.add_argument("--lang", choices=["es", "en"], default="es")
    pay.add_argument("--quiet", action="store_true", help="do not print the table")

    exp = sub.add_parser("export", help="a period's deliveries from InfluxDB as CSV")
    exp.add_argument("--period", required=True)
    exp.add_argument("--out", required=True, help="CSV file to write")
    exp.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    return parser


def _influx(config):
    from .influx import InfluxV1
    ic = config.influx
    return InfluxV1(ic.url, ic.database, username=ic.username, password=ic.password,
                    timeout_s=ic.timeout_s)


def _read_influx(config, period, tz):
    from .influx import InfluxError
    from .store import period_deliveries
    try:
        return list(period_deliveries(_influx(config), period, tz, config.influx.query_chunk_size))
    except InfluxError as exc:
        raise UserError(f"cannot read deliveries from InfluxDB: {exc}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .ingest import Ingest
    config = load_hub_config(args.config)
    ingest = Ingest(config)
    signal.signal(signal.SIGTERM, lambda *a: ingest.stop())
    signal.signal(signal.SIGINT, lambda *a: ingest.stop())
    log.info("ingest: mqtt %s:%d -> %s db %s", config.mqtt.host, config.mqtt.port,
             config.influx.url, config.influx.database)
    ingest.run()
    return 0


def cmd_payments(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import load_hub_config
    from .payments.engine import compute_fortnight
    from .payments.periods import Period
    from .payments.pricing import load_pricing
    from .payments.records import read_advances_csv, read_deliveries_csv
    from .payments.statements import render_table, write_outputs

    period = Period.parse(args.period)
    pricing = load_pricing(args.pricing)
    advances = read_advances_csv(args.advances) if args.advances else ()
    if args.deliveries:
        deliveries = read_deliveries_csv(args.deliveries)
    else:
        deliveries = _read_influx(load_hub_config(args.config), period, pricing.zone)
    fortnight = compute_fortnight(period, deliveries, pricing, advances)
    write_outputs(Path(args.out), fortnight, lang=args.lang)
    if not args.quiet:
        print(render_table(fortnight, lang=args.lang))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .config import load_hub_config
    from .payments.periods import Period
    from .payments.records import write_deliveries_csv
    config = load_hub_config(args.config)
    period = Period.parse(args.period)
    deliveries = _read_influx(config, period, config.zone)
    write_deliveries_csv(args.out, deliveries, config.zone)
    print(f"{len(deliveries)} deliveries -> {args.out}", file=sys.stderr)
    return 0


COMMANDS = {"ingest": cmd_ingest, "payments": cmd_payments, "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    return run_commands("milk-hub", build_parser(), COMMANDS, argv)

if __name__ == "__main__":
    sys.exit(main())
