"""`milk-hub`: the central service and the officers' tools.

    milk-hub ingest --config hub.toml
    milk-hub payments --period 2026-11-1 [--deliveries CSV] --pricing pricing.toml
                      [--advances CSV] --out DIR [--config hub.toml] [--lang es|en]
                      [--producers CSV] [--strict] [--csv-locale es_BO]
    milk-hub export --period 2026-11-1 --out deliveries.csv [--config hub.toml]
    milk-hub alerts list [--all] [--json] [--config hub.toml] | alerts ack ID [--by NAME]
    milk-hub payments ... --ledger ledger.sqlite [--close]
    milk-hub reconcile --period 2026-11-1 --buyer buyer.csv --pricing pricing.toml
                       [--deliveries CSV] [--advances CSV] [--ledger FILE] [--out DIR]
    milk-hub web --config hub.toml [--port N] [--bind ADDR]
    milk-hub gaps --config hub.toml [--json] [--center C] [--lang es|en]
    milk-hub users add NAME --config hub.toml  (password on standard input) | users list

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
from decimal import Decimal

from milk_common.cli import OneLineParser, run_commands

from hub.errors import UserError
from milk_common.mqtt import stop_loop

log = logging.getLogger("milk-hub")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="milk-hub", description="Milk collection hub")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    ing = sub.add_parser("ingest", help="store MQTT messages in InfluxDB")
    ing.add_argument("--config", required=True, help="hub.toml")
    ing.add_argument("--client-id", help="this process's MQTT client id instead of [mqtt] client_id: "
                     "several hubs of one shared_group from one config (docs/scaling.md)")

    pay = sub.add_parser("payments", help="compute a fortnight's statements")
    pay.add_argument("--period", required=True, help="YYYY-MM-1 or YYYY-MM-2")
    pay.add_argument("--deliveries", help="deliveries CSV (default: read InfluxDB)")
    pay.add_argument("--pricing", required=True, help="pricing TOML")
    pay.add_argument("--advances", help="advances CSV")
    pay.add_argument("--out", required=True, help="output folder")
    pay.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"),
                     help="hub.toml, for InfluxDB (default $MILK_HUB_CONFIG or local defaults)")
    pay.add_argument("--lang", choices=["es", "en"], default=None,
                     help="language of statements and messages (default: config language, else the locale; es)")
    pay.add_argument("--producers", help="producer registry CSV: names on every statement")
    pay.add_argument("--strict", action="store_true", help="stop (write nothing) when a sanity check warns")
    pay.add_argument("--csv-locale", metavar="LOCALE",
                     help="also statements-LOCALE.csv in that locale's number format (es_BO, es_PE)")
    pay.add_argument("--quiet", action="store_true", help="do not print the table")
    pay.add_argument("--ledger", help="payment ledger (SQLite): carry-in, adjustments, closed periods")
    pay.add_argument("--close", action="store_true", help="freeze the period in the --ledger")
    pay.add_argument("--no-pdf", action="store_true", help="text statements only (no PDF)")
    pay.add_argument("--csv-only", action="store_true", help="statements.csv, lines.csv, statements.txt and "
                     "warnings.txt only (no printable statements, no PDF): a whole basin in seconds")
    pay.add_argument("--notify", action="store_true", help="send each producer their fortnight message "
                     "(Apprise URL in the registry's notify column); sent once, failures retried next run")

    rec = sub.add_parser("reconcile", help="compare a fortnight with the buyer's statement")
    rec.add_argument("--period", required=True, help="YYYY-MM-1 or YYYY-MM-2")
    rec.add_argument("--buyer", required=True, help="buyer statement CSV: period, liters, avg_solids_pct, amount")
    rec.add_argument("--pricing", required=True, help="pricing TOML")
    rec.add_argument("--deliveries", help="deliveries CSV (default: read InfluxDB)")
    rec.add_argument("--advances", help="advances CSV")
    rec.add_argument("--ledger", help="payment ledger (SQLite), as for payments")
    rec.add_argument("--out", help="folder for reconciliation.csv/.txt/.pdf")
    rec.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    rec.add_argument("--lang", choices=["es", "en"], default=None)
    rec.add_argument("--producers", help="producer registry CSV: names in the detail per producer")

    reg = sub.add_parser("registry", help="send the producer registry to a center's stations")
    reg.add_argument("action", choices=["publish"])
    reg.add_argument("--center", required=True)
    reg.add_argument("--csv", help="code,name[,active,lab_fat_pct,lab_date] (default: the hub's own "
                                   "registry, filled by `milk-hub producers import`)")
    reg.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))

    ver = sub.add_parser("verify", help="check the seals of a period's deliveries in InfluxDB")
    ver.add_argument("--period", required=True)
    ver.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"))
    ver.add_argument("--pricing", help="pricing file: each finding says what its point would have cost")

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

    from hub.security.cli import add_provision_parser
    add_provision_parser(sub)

    from hub.web.cli import add_web_parsers
    add_web_parsers(sub)

    from hub.producers.commands import add_commands as add_producer_commands
    add_producer_commands(sub)     # producers import|list, producer CODE, advances add|list|cancel

    from hub.recovery.commands import add_parser as add_gaps_parser
    add_gaps_parser(sub)           # gaps: what the hub lacks per station (docs/recovery.md)
    return parser


def _influx(config):
    from hub.store.influx import InfluxV1
    return InfluxV1.from_config(config.influx)


def _read_influx(config, period, tz, progress=False, lang=None):
    from hub.payments.format import text as payments_text
    from hub.store.influx import InfluxError
    from hub.store.deliveries import period_deliveries
    from milk_common.i18n import choose_language
    try:
        return list(period_deliveries(_influx(config), period, tz, config.influx.query_chunk_size,
                                      progress=progress))
    except InfluxError as exc:
        raise UserError(payments_text("cli_influx_unreadable", choose_language(lang, getattr(config, "language", None)),
                                      reason=exc)) from None


def cmd_ingest(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config, with_client_id
    from hub.ingest.service import Ingest
    from hub.security.keys import refuse_without_keys
    from milk_common.mqtt import check_access
    config = load_hub_config(args.config)
    if args.client_id:
        config = with_client_id(config, args.client_id)
    refuse_without_keys(config)
    check_access(config.mqtt)
    ingest = Ingest(config)
    signal.signal(signal.SIGTERM, lambda *a: ingest.stop())
    signal.signal(signal.SIGINT, lambda *a: ingest.stop())
    log.info("ingest: mqtt %s:%d -> %s db %s", config.mqtt.host, config.mqtt.port,
             config.influx.url, config.influx.database)
    from hub.alerts.runner import attach_alerts
    stop_alerts = attach_alerts(config, ingest)     # a no-op unless [alerts] enabled
    from hub.notify.deliveries import attach_delivery_notifications
    stop_notify = attach_delivery_notifications(config, ingest)   # a no-op unless [notify] deliveries
    try:
        ingest.run()
    finally:
        stop_notify()
        stop_alerts()
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime
    from pathlib import Path

    from hub.alerts.store import AlertStore
    from hub.config import load_hub_config
    from milk_common.i18n import choose_language, translate
    config = load_hub_config(args.config)
    lang = choose_language(None, config.language)

    def say(key: str, **values: object) -> str:
        return translate("hub", f"cli.{key}", lang, **values)

    path = Path(config.data_dir) / "alerts.sqlite3"
    if not path.exists():
        raise UserError(say("no_alerts", path=path))
    store = AlertStore(path)
    try:
        if args.alerts_command == "ack":
            alert = store.get(args.id)
            if alert is None:
                raise UserError(say("no_such_alert", id=args.id))
            if not store.ack(args.id, datetime.now(config.zone).isoformat(timespec="seconds"), args.by):
                print(say("alert_already_acked", id=args.id, by=alert.acked_by))
            else:
                print(say("alert_acked", id=args.id))
            return 0
        alerts = store.all() if args.all else store.active()
        for a in alerts:
            if args.json:
                print(json.dumps(a.to_json(), ensure_ascii=False))
                continue
            status = say("alert_resolved") if a.resolved_at else say("alert_seen") if a.acked_at else say("alert_open")
            where = f"{a.center}/{a.station}" + (f"/{a.tank}" if a.tank else "")
            print(f"{a.id:>5}  {status:<8} {a.kind:<18} {where:<32} {a.opened_at}  {a.detail}")
        return 0
    finally:
        store.close()


def _fortnight(args: argparse.Namespace, ledger=None):
    """Read the inputs and compute the fortnight (with the ledger's carry-in and adjustments)."""
    from hub.config import load_hub_config
    from hub.payments.ledger import open_period_fortnight
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
        # A deliveries CSV holds what is to be paid: nothing is read of the period before.
        given = read_deliveries_csv(args.deliveries)
        read = lambda p: given if p == period else []  # noqa: E731
    else:
        config = load_hub_config(args.config)
        progress = sys.stderr.isatty()
        lang = getattr(args, "lang", None)
        read = lambda p: _read_influx(config, p, pricing.zone, progress, lang)  # noqa: E731
    fortnight = open_period_fortnight(period, read, pricing, advances, ledger)
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
            raise UserError(exc.words(_error_language(args))) from None

    return run


@_payments_errors
def cmd_payments(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.payments.files import write_text_atomic
    from hub.payments.ledger import Ledger
    from hub.payments.report import write_statements
    from hub.payments.statements import render_table, statements_csv_text

    from hub.payments.format import text as payments_text
    from hub.payments.localecsv import locale_number_format

    lang = args.lang = _language(args)
    if args.close and not args.ledger:
        raise UserError(payments_text("cli_close_needs_ledger", lang))
    if args.csv_locale:
        locale_number_format(args.csv_locale)  # a bad locale stops here, before anything is read
    names = _producer_names(args.producers, lang) if args.producers else None
    if not (args.no_pdf or args.csv_only):
        try:
            import fpdf  # noqa: F401
        except ImportError:
            raise UserError(payments_text("cli_pdf_needs_extra", lang)) from None
    ledger = Ledger(args.ledger) if args.ledger else None
    from hub import lean as csv_only  # --csv-only: the fortnight as columns (hub/lean.py)
    lean = csv_only.columns_fortnight(args, lang) if args.csv_only and ledger is None else None
    period, pricing, advances, fortnight, frozen = lean[:5] if lean else _fortnight(args, ledger)
    if frozen is not None:
        # A closed period is never recomputed: its frozen statements.csv, as closed.
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.out) / "statements.csv", frozen.statements_csv)
        from hub.payments.statements import write_closed_statements  # and its statements, as closed
        write_closed_statements(Path(args.out), ledger.closed_statement_files(period))
        print(payments_text("cli_period_frozen", lang, period=period, closed_at=frozen.closed_at,
                            checksum=frozen.checksum[:16]), file=sys.stderr)
        if args.close:
            raise UserError(payments_text("cli_already_closed", lang, ledger=args.ledger, period=period))
        from hub.notify.fortnight import notify_from_cli; notify_from_cli(args, period, ledger)  # noqa: E702
        return 0
    known = set(names) if names is not None else None
    warnings = [finding.words(lang) for finding in csv_only.findings(lean, fortnight, advances, known, lang)]
    if warnings and args.strict:
        raise UserError(payments_text("strict_stop", lang, count=len(warnings), first=warnings[0]))
    if args.csv_only:
        csv_only.write_csv_only(Path(args.out), fortnight, lean, lang, names, warnings, args.csv_locale)
    else:
        write_statements(Path(args.out), fortnight, lang=lang, pdf=not args.no_pdf, names=names,
                         warnings=warnings, csv_locale=args.csv_locale)
    if warnings:
        _print_warnings(warnings, Path(args.out) / "warnings.txt", lang)
    if args.close:
        from hub.payments.statements import closing_statement_files
        closed = ledger.close(fortnight, statements_csv_text(fortnight), advances,
                              closing_statement_files(Path(args.out), fortnight, lang, names))
        print(payments_text("cli_period_closed", lang, period=period, checksum=closed.checksum), file=sys.stderr)
    from hub.notify.fortnight import notify_from_cli; notify_from_cli(args, period, ledger)  # noqa: E702
    if not args.quiet:
        print(render_table(fortnight, lang=lang, names=names))
    return 0


def _language(args: argparse.Namespace) -> str:
    """--lang, else the hub config's `language`, else the locale (English only when it says so)."""
    from milk_common.i18n import choose_language
    configured = None
    if getattr(args, "lang", None) is None and getattr(args, "config", None):
        from hub.config import load_hub_config
        configured = getattr(load_hub_config(args.config), "language", None)
    return choose_language(getattr(args, "lang", None), configured)


def _error_language(args: argparse.Namespace) -> str:
    """The language of an error: the command's own (--lang, config, locale), or the locale's
    when the config itself cannot be read."""
    from milk_common.i18n import choose_language
    try:
        return _language(args)
    except Exception:  # noqa: BLE001 - a broken config must not hide the first error
        return choose_language(getattr(args, "lang", None))


def _producer_names(path: str, lang: str) -> dict[str, str]:
    """code -> name from the producer registry CSV (a bad file: one line naming file, row, field)."""
    from milk_common.contract.registry import RegistryError, read_registry_csv
    try:
        producers, _ = read_registry_csv(path)
    except RegistryError as exc:
        raise UserError(exc.text(lang) if hasattr(exc, "text") else str(exc)) from None
    return {producer.code: producer.name for producer in producers}


def _print_warnings(warnings: list[str], path, lang: str, shown: int = 20) -> None:
    """The sanity checks' warnings on standard error (the first `shown`; all are in the file)."""
    from hub.payments.format import text as payments_text
    print(payments_text("warnings_count", lang, count=len(warnings), path=path), file=sys.stderr)
    for warning in warnings[:shown]:
        print(f"  {warning}", file=sys.stderr)
    if len(warnings) > shown:
        print("  " + payments_text("warnings_more", lang, count=len(warnings) - shown, path=path), file=sys.stderr)


@_payments_errors
def cmd_reconcile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.payments.ledger import Ledger
    from hub.payments.reconcile import read_buyer_csv, reconcile, render_reconciliation
    from hub.payments.report import write_reconciliation

    lang = args.lang = _language(args)
    names = _producer_names(args.producers, lang) if args.producers else None
    ledger = Ledger(args.ledger) if args.ledger else None
    period, _, _, fortnight, frozen = _fortnight(args, ledger)
    if frozen is not None:
        from hub.payments.reconcile import fortnight_from_statements
        fortnight = fortnight_from_statements(frozen.statements_csv, args.pricing)
    buyer = read_buyer_csv(args.buyer, period)
    result = reconcile(fortnight, buyer, names)
    if args.out:
        write_reconciliation(Path(args.out), result, lang=lang)
    print(render_reconciliation(result, lang=lang), end="")
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
    from hub.payments.format import text as payments_text
    print(payments_text("cli_exported", _error_language(args), count=len(deliveries), path=args.out),
          file=sys.stderr)
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    """Publish the registry retained on the center's registry topic (QoS 1): every
    station of the center gets it now or when it next connects."""
    import json

    from milk_common.contract import registry_payload, registry_topic, valid_ident
    from milk_common.mqtt import make_client
    from milk_common.contract.registry import RegistryError, read_registry_csv, registry_message_rows

    from hub.config import load_hub_config
    if not valid_ident(args.center):
        raise UserError(f"--center {args.center!r}: must match [a-z0-9_-]{{1,32}}")
    if args.csv:
        try:
            producers, lab = read_registry_csv(args.csv)
        except RegistryError as exc:
            raise UserError(str(exc)) from None
    else:   # the hub's authoritative registry; phones and notify URLs never leave it
        from hub.producers.commands import open_registry
        args.lang = None
        registry = open_registry(args)
        producers, lab = registry.all(), registry.lab()
        registry.close()
        if not producers:
            raise UserError(f"{registry.path}: {_hub_text('registry_empty')}")
    payload = registry_payload(args.center, registry_message_rows(producers, lab))
    mc = load_hub_config(args.config).mqtt
    client = make_client(mc, client_id=f"{mc.client_id}-registry")
    try:
        client.connect(mc.host, mc.port, mc.keepalive_s)
    except OSError as exc:
        raise UserError(_hub_text("broker_unreachable", host=mc.host, port=mc.port, detail=exc)) from None
    client.loop_start()
    info = client.publish(registry_topic(args.center), json.dumps(payload, ensure_ascii=False),
                          qos=1, retain=True)
    info.wait_for_publish(10)
    client.disconnect()
    stop_loop(client)
    if not info.is_published():
        raise UserError(_hub_text("registry_not_acked"))
    print(_hub_text("registry_published", count=len(producers), center=args.center), file=sys.stderr)
    return 0


def _hub_text(key: str, **values: object) -> str:
    """A hub command's message in the command's language (milk_common/cli.py chose it)."""
    from milk_common.i18n import process_language, translate
    return translate("hub", f"cmd.{key}", process_language(), **values)


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
        raise UserError(_hub_text("influx_unreadable", detail=exc)) from None
    from hub.security.keys import StationKeys
    findings = verify_points(rows, config.integrity, StationKeys(config.integrity.keys, config.keys_path))
    pricing = None
    if args.pricing:
        from hub.payments.pricing import load_pricing
        pricing = load_pricing(args.pricing)
    from hub.payments.money import format_2dp
    at_stake = Decimal(0)
    for finding in findings:
        out = finding.to_json()
        if pricing is not None and finding.point is not None:
            value = point_value(pricing, finding.point)
            if value is not None:
                out["value"] = str(value)
                out["currency"] = pricing.currency
                if finding.problem in PAID_AGAIN:
                    at_stake += value
        print(json.dumps(out, ensure_ascii=False))
    print(_hub_text("verify_summary", checked=len(rows), problems=len(findings)), file=sys.stderr)
    if pricing is not None:
        print(_hub_text("verify_at_stake", value=format_2dp(at_stake), currency=pricing.currency),
              file=sys.stderr)
    return 1 if findings else 0


# A point of these is money paid for nothing: another point already pays its delivery.
PAID_AGAIN = {"duplicate_id"}


def point_value(pricing, point: dict):
    """What a delivery point is paid under `pricing` (None when it cannot be priced)."""
    from hub.payments.money import round_half_up
    from hub.payments.pricing import price_delivery
    from hub.store.deliveries import _dec
    if point.get("kind") == "void":
        return None
    try:
        return round_half_up(price_delivery(
            pricing, _dec(point.get("liters")) or Decimal(0), _dec(point.get("solids_pct")),
            bool(point.get("accepted")), _dec(point.get("milk_temp_c")),
            _dec(point.get("weight_kg")), _dec(point.get("fat_pct"))).value)
    except (ValueError, ArithmeticError):
        return None


def cmd_provision(args: argparse.Namespace) -> int:
    from hub.security.cli import cmd_provision as run
    return run(args)


def cmd_web(args: argparse.Namespace) -> int:
    from hub.web.cli import cmd_web as run
    return run(args)


def cmd_users(args: argparse.Namespace) -> int:
    from hub.web.cli import cmd_users as run
    return run(args)


COMMANDS = {"web": cmd_web, "users": cmd_users, "provision": cmd_provision, "alerts": cmd_alerts, "verify": cmd_verify, "registry": cmd_registry, "ingest": cmd_ingest, "payments": cmd_payments, "export": cmd_export,
            "reconcile": cmd_reconcile}
from hub.producers.commands import COMMANDS as _PRODUCER_COMMANDS  # noqa: E402
COMMANDS.update(_PRODUCER_COMMANDS)
from hub.recovery.commands import cmd_gaps  # noqa: E402
COMMANDS["gaps"] = cmd_gaps


def main(argv: list[str] | None = None) -> int:
    return run_commands("milk-hub", build_parser, COMMANDS, argv, config_env="MILK_HUB_CONFIG")

if __name__ == "__main__":
    sys.exit(main())
