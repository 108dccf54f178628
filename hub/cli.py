"""`milk-hub`: the central service and the officers' tools.

    milk-hub ingest --config hub.toml
    milk-hub payments --period 2026-11-1 [--deliveries CSV] --pricing pricing.toml
                      [--advances CSV] --out DIR [--config hub.toml] [--lang es|en]
    milk-hub export --period 2026-11-1 --out deliveries.csv [--config hub.toml]
    milk-hub alerts list [--all] [--json] [--config hub.toml] | alerts ack ID [--by NAME]
    milk-hub payments ... --ledger ledger.sqlite [--close]
    milk-hub reconcile --period 2026-11-1 --buyer buyer.csv --pricing pricing.toml
                       [--deliveries CSV] [--advances CSV] [--ledger FILE] [--out DIR]

Exit status 0 on success; 2 with a one-line reason on standard error for a
user's mistake. Never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys

from milk_common.cli import OneLineParser, run_commands

from hub.errors import UserError

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
    pay.add_argument("--ledger", help="payment ledger (SQLite): carry-in, adjustments, closed periods")
    pay.add_argument("--close", action="store_true", help="freeze the period in the --ledger")
    pay.add_argument("--no-pdf", action="store_true", help="text statements only (no PDF)")

    rec = sub.add_parser("reconcile", help="compare a fortnight with the buyer's statement")
    rec.add_argument("--period", required=True, help="YYYY-MM-1 or YYYY-MM-2")
    rec.add_argument("--buyer", required=True, help="buyer statement CSV: period, liters, avg_solids_pct, amount")
    rec.add_argument("--pricing", required=True, help="pricing TOML")
    rec.add_argument("--deliveries", help="deliveries CSV (default: read InfluxDB)")
    rec.add_argument("--advances", help="advances CSV")
    rec.add_argument("--ledger", help="payment ledger (SQLite), as for payments")
    rec.add_argument("--out", help="folder for reconciliation.csv/.txt/.pdf")
    rec.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    rec.add_argument("--lang", choices=["es", "en"], default="es")

    reg = sub.add_parser("registry", help="send the producer registry to a center's stations")
    reg.add_argument("action", choices=["publish"])
    reg.add_argument("--center", required=True)
    reg.add_argument("--csv", required=True, help="code,name[,active,lab_fat_pct,lab_date]")
    reg.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))

    ver = sub.add_parser("verify", help="check the seals of a period's deliveries in InfluxDB")
    ver.add_argument("--period", required=True)
    ver.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))

    alr = sub.add_parser("alerts", help="cold-chain and station alerts")
    alr_sub = alr.add_subparsers(dest="alerts_command", required=True, parser_class=OneLineParser)
    alist = alr_sub.add_parser("list", help="active alerts (--all: resolved too)")
    alist.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    alist.add_argument("--all", action="store_true")
    alist.add_argument("--json", action="store_true")
    aack = alr_sub.add_parser("ack", help="acknowledge an alert: it is not repeated any more")
    aack.add_argument("id", type=int)
    aack.add_argument("--by", default=os.environ.get("USER", "technician"), help="who acknowledges")
    aack.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))

    exp = sub.add_parser("export", help="a period's deliveries from InfluxDB as CSV")
    exp.add_argument("--period", required=True)
    exp.add_argument("--out", required=True, help="CSV file to write")
    exp.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    return parser


def _influx(config):
    from hub.store.influx import InfluxV1
    ic = config.influx
    return InfluxV1(ic.url, ic.database, username=ic.username, password=ic.password,
                    timeout_s=ic.timeout_s)


def _read_influx(config, period, tz, progress=False):
    from hub.store.influx import InfluxError
    from hub.store.deliveries import period_deliveries
    try:
        return list(period_deliveries(_influx(config), period, tz, config.influx.query_chunk_size,
                                      progress=progress))
    except InfluxError as exc:
        raise UserError(f"cannot read deliveries from InfluxDB: {exc}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    from hub.ingest.service import Ingest
    config = load_hub_config(args.config)
    ingest = Ingest(config)
    signal.signal(signal.SIGTERM, lambda *a: ingest.stop())
    signal.signal(signal.SIGINT, lambda *a: ingest.stop())
    log.info("ingest: mqtt %s:%d -> %s db %s", config.mqtt.host, config.mqtt.port,
             config.influx.url, config.influx.database)
    from hub.alerts.runner import attach_alerts
    stop_alerts = attach_alerts(config, ingest)     # a no-op unless [alerts] enabled
    try:
        ingest.run()
    finally:
        stop_alerts()
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime
    from pathlib import Path

    from hub.alerts.store import AlertStore
    from hub.config import load_hub_config
    config = load_hub_config(args.config)
    path = Path(config.data_dir) / "alerts.sqlite3"
    if not path.exists():
        raise UserError(f"{path}: no alerts yet (is [alerts] enabled in the hub config?)")
    store = AlertStore(path)
    try:
        if args.alerts_command == "ack":
            alert = store.get(args.id)
            if alert is None:
                raise UserError(f"alert {args.id}: no such alert")
            if not store.ack(args.id, datetime.now(config.zone).isoformat(timespec="seconds"), args.by):
                print(f"alert {args.id} was already acknowledged by {alert.acked_by}")
            else:
                print(f"alert {args.id} acknowledged")
            return 0
        alerts = store.all() if args.all else store.active()
        for a in alerts:
            if args.json:
                print(json.dumps(a.to_json(), ensure_ascii=False))
                continue
            status = "resolved" if a.resolved_at else ("acked" if a.acked_at else "OPEN")
            where = f"{a.center}/{a.station}" + (f"/{a.tank}" if a.tank else "")
            print(f"{a.id:>5}  {status:<8} {a.kind:<18} {where:<32} {a.opened_at}  {a.detail}")
        return 0
    finally:
        store.close()


def _fortnight(args: argparse.Namespace, ledger=None):
    """Read the inputs and compute the fortnight (with the ledger's carry-in and adjustments)."""
    from hub.config import load_hub_config
    from hub.payments.fast import compute_fortnight_fast
    from hub.payments.periods import Period
    from hub.payments.pricing import load_pricing
    from hub.payments.records import read_advances_csv, read_deliveries_csv

    period = Period.parse(args.period)
    pricing = load_pricing(args.pricing)
    advances = read_advances_csv(args.advances) if args.advances else []
    frozen = ledger.closed(period) if ledger is not None else None
    if frozen is not None:
        return period, pricing, advances, None, frozen
    if args.deliveries:
        deliveries = read_deliveries_csv(args.deliveries)
    else:
        config = load_hub_config(args.config)
        progress = sys.stderr.isatty()
        deliveries = _read_influx(config, period, pricing.zone, progress)
        if ledger is not None and ledger.closed(period.previous()) is not None:
            # Late deliveries of the last closed period become adjustments.
            deliveries += _read_influx(config, period.previous(), pricing.zone, progress)
    carried_in, adjustments = {}, []
    if ledger is not None:
        inputs = ledger.inputs(period, deliveries, pricing, advances)
        deliveries, adjustments, carried_in, advances = (
            inputs.deliveries, inputs.adjustments, inputs.carried_in, inputs.advances)
    fortnight = compute_fortnight_fast(period, deliveries, pricing, advances, carried_in, adjustments)
    return period, pricing, advances, fortnight, None


def _payments_errors(command):
    """Run a command that uses the payments core, whose own errors (`PaymentsError`: a bad
    file, period or ledger) reach the user as a one-line UserError with the same message."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from hub.payments.errors import PaymentsError
        try:
            return command(args)
        except PaymentsError as exc:
            raise UserError(str(exc)) from None

    return run


@_payments_errors
def cmd_payments(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.payments.files import write_text_atomic
    from hub.payments.ledger import Ledger
    from hub.payments.report import write_statements
    from hub.payments.statements import render_table, statements_csv_text

    if args.close and not args.ledger:
        raise UserError("--close needs --ledger FILE")
    if not args.no_pdf:
        try:
            import fpdf  # noqa: F401
        except ImportError:
            raise UserError("PDF statements need the hub extra (pip install '.[hub]'); "
                            "or pass --no-pdf") from None
    ledger = Ledger(args.ledger) if args.ledger else None
    period, pricing, advances, fortnight, frozen = _fortnight(args, ledger)
    if frozen is not None:
        # A closed period is never recomputed: its frozen statements.csv, as closed.
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.out) / "statements.csv", frozen.statements_csv)
        print(f"period {period} was closed on {frozen.closed_at} (sha256 {frozen.checksum[:16]}...): "
              f"statements.csv from the ledger", file=sys.stderr)
        if args.close:
            raise UserError(f"{args.ledger}: period {period} is already closed")
        return 0
    write_statements(Path(args.out), fortnight, lang=args.lang, pdf=not args.no_pdf)
    if args.close:
        closed = ledger.close(fortnight, statements_csv_text(fortnight), advances)
        print(f"period {period} closed (sha256 {closed.checksum})", file=sys.stderr)
    if not args.quiet:
        print(render_table(fortnight, lang=args.lang))
    return 0


@_payments_errors
def cmd_reconcile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.payments.ledger import Ledger
    from hub.payments.reconcile import read_buyer_csv, reconcile, render_reconciliation
    from hub.payments.report import write_reconciliation

    ledger = Ledger(args.ledger) if args.ledger else None
    period, _, _, fortnight, frozen = _fortnight(args, ledger)
    if frozen is not None:
        from hub.payments.reconcile import fortnight_from_statements
        fortnight = fortnight_from_statements(frozen.statements_csv, args.pricing)
    buyer = read_buyer_csv(args.buyer, period)
    result = reconcile(fortnight, buyer)
    if args.out:
        write_reconciliation(Path(args.out), result, lang=args.lang)
    print(render_reconciliation(result, lang=args.lang), end="")
    return 0


@_payments_errors
def cmd_export(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    from hub.payments.periods import Period
    from hub.payments.records import write_deliveries_csv
    config = load_hub_config(args.config)
    period = Period.parse(args.period)
    deliveries = _read_influx(config, period, config.zone)
    write_deliveries_csv(args.out, deliveries, config.zone)
    print(f"{len(deliveries)} deliveries -> {args.out}", file=sys.stderr)
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    """Publish the registry retained on the center's registry topic (QoS 1): every
    station of the center gets it now or when it next connects."""
    import json

    import paho.mqtt.client as mqtt

    from milk_common.contract import registry_payload, registry_topic, valid_ident
    from milk_common.contract.registry import RegistryError, read_registry_csv, registry_message_rows

    from hub.config import load_hub_config
    if not valid_ident(args.center):
        raise UserError(f"--center {args.center!r}: must match [a-z0-9_-]{{1,32}}")
    try:
        producers, lab = read_registry_csv(args.csv)
    except RegistryError as exc:
        raise UserError(str(exc)) from None
    payload = registry_payload(args.center, registry_message_rows(producers, lab))
    mc = load_hub_config(args.config).mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{mc.client_id}-registry")
    if mc.username:
        client.username_pw_set(mc.username, mc.password)
    try:
        client.connect(mc.host, mc.port, mc.keepalive_s)
    except OSError as exc:
        raise UserError(f"cannot reach the broker {mc.host}:{mc.port}: {exc}") from None
    client.loop_start()
    info = client.publish(registry_topic(args.center), json.dumps(payload, ensure_ascii=False),
                          qos=1, retain=True)
    info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    if not info.is_published():
        raise UserError("the broker did not acknowledge the registry")
    print(f"{len(producers)} producers published to {args.center}", file=sys.stderr)
    return 0


@_payments_errors
def cmd_verify(args: argparse.Namespace) -> int:
    """One JSON line per finding; exit 1 when anything fails, 0 when all is intact."""
    import json

    from hub.config import load_hub_config
    from hub.store.influx import InfluxError
    from hub.ingest.integrity import verify_points
    from hub.payments.periods import Period
    from hub.store.deliveries import period_delivery_rows
    config = load_hub_config(args.config)
    period = Period.parse(args.period)
    try:
        rows = list(period_delivery_rows(_influx(config), period, config.zone,
                                         config.influx.query_chunk_size))
    except InfluxError as exc:
        raise UserError(f"cannot read deliveries from InfluxDB: {exc}") from None
    findings = verify_points(rows, config.integrity)
    for finding in findings:
        print(json.dumps(finding.to_json(), ensure_ascii=False))
    print(f"{len(rows)} deliveries checked, {len(findings)} problems", file=sys.stderr)
    return 1 if findings else 0


COMMANDS = {"alerts": cmd_alerts, "verify": cmd_verify, "registry": cmd_registry, "ingest": cmd_ingest, "payments": cmd_payments, "export": cmd_export,
            "reconcile": cmd_reconcile}


def main(argv: list[str] | None = None) -> int:
    return run_commands("milk-hub", build_parser(), COMMANDS, argv)

if __name__ == "__main__":
    sys.exit(main())
