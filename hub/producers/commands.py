"""The officer's commands over producers and advances (`milk-hub producers`,
`milk-hub producer`, `milk-hub advances`): argument parsing and the thin
shell around the registry store, the ledger and InfluxDB.

Texts: the `hub` catalog for what the commands report, `payments` for what
is about a producer's money. Language: `--lang`, else the environment
(English only for an English locale).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from milk_common.cli import OneLineParser
from milk_common.i18n import language_from_environment, translate

from hub.errors import UserError


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"),
                        help="hub.toml (default $MILK_HUB_CONFIG): its data_dir holds the registry")
    parser.add_argument("--lang", choices=["es", "en"], default=None)


def _ledger_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", help="payment ledger (SQLite); default [payments] ledger of --config, "
                                         "else its DATA_DIR/ledger.sqlite3")


def add_commands(sub) -> None:
    """Add `producers`, `producer` and `advances` to milk-hub's subcommands."""
    pro = sub.add_parser("producers", help="the hub's producer registry (authoritative)")
    pro_sub = pro.add_subparsers(dest="producers_command", required=True, parser_class=OneLineParser)
    imp = pro_sub.add_parser("import", help="merge a registry CSV (code,name[,active,lab_fat_pct,"
                                            "lab_date,phone,notify]) into the registry")
    imp.add_argument("file")
    imp.add_argument("--replace", action="store_true",
                     help="replace the registry: producers the file lacks are removed")
    _config_arg(imp)
    lst = pro_sub.add_parser("list", help="print the registry")
    lst.add_argument("--json", action="store_true")
    _config_arg(lst)

    one = sub.add_parser("producer", help="a producer's balance and history")
    one.add_argument("code")
    one.add_argument("--periods", type=int, default=6, help="how many periods back (default 6)")
    one.add_argument("--until", metavar="PERIOD",
                     help="the last period shown, e.g. 2026-11-2 (default: the current one)")
    one.add_argument("--pricing", help="pricing TOML, for the currency and time zone")
    _config_arg(one)
    _ledger_arg(one)

    adv = sub.add_parser("advances", help="advances to producers, kept in the payment ledger")
    adv_sub = adv.add_subparsers(dest="advances_command", required=True, parser_class=OneLineParser)
    add = adv_sub.add_parser("add", help="record an advance")
    add.add_argument("producer")
    add.add_argument("kind", choices=["feed", "veterinary", "cash", "other"])
    add.add_argument("amount", help="amount in currency, at most two decimals")
    add.add_argument("--installments", type=int, choices=[1, 2], default=1)
    add.add_argument("--first-period", required=True, help="YYYY-MM-1 or YYYY-MM-2")
    add.add_argument("--by", default=os.environ.get("USER") or None, help="who enters it (default $USER)")
    add.add_argument("--note", default="")
    add.add_argument("--id", help="the advance's id (default: a new one, adv-xxxxxxxx)")
    _config_arg(add)
    _ledger_arg(add)
    alist = adv_sub.add_parser("list", help="recorded advances")
    alist.add_argument("--producer")
    alist.add_argument("--json", action="store_true")
    _config_arg(alist)
    _ledger_arg(alist)
    cancel = adv_sub.add_parser("cancel", help="cancel an advance (its open installments)")
    cancel.add_argument("id")
    cancel.add_argument("--by", default=os.environ.get("USER") or None)
    _config_arg(cancel)
    _ledger_arg(cancel)


def _lang(args) -> str:
    return args.lang or language_from_environment()


def _t(args, key: str, **values) -> str:
    return translate("hub", key, _lang(args), **values)


def _config(args):
    from hub.config import load_hub_config
    return load_hub_config(args.config)


def open_registry(args):
    from hub.producers.registry import ProducerRegistry, registry_path
    if not args.config:
        raise UserError(_t(args, "cli_needs_config"))
    return ProducerRegistry(registry_path(_config(args).data_dir))


def _ledger_path(args) -> Path:
    if args.ledger:
        return Path(args.ledger)
    if not args.config:
        raise UserError(_t(args, "cli_needs_ledger"))
    return _config(args).ledger_path


def _open_ledger(args, must_exist: bool = False):
    from hub.payments.errors import PaymentsError
    from hub.payments.ledger import Ledger
    path = _ledger_path(args)
    if must_exist and not path.exists():
        raise UserError(_t(args, "cli_no_ledger", path=str(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Ledger(path)
    except PaymentsError as exc:
        raise UserError(str(exc)) from None


def cmd_producers(args: argparse.Namespace) -> int:
    from milk_common.contract.registry import RegistryError, read_registry_csv, registry_columns

    from hub.notify.urls import apprise_url_problem
    registry = open_registry(args)
    try:
        if args.producers_command == "import":
            try:
                producers, lab = read_registry_csv(args.file, notify_check=apprise_url_problem)
                columns = registry_columns(args.file)
            except RegistryError as exc:
                raise UserError(exc.text(_lang(args))) from None
            kept = [name for name in ("phone", "notify") if name not in columns]
            s = registry.import_producers(producers, lab, replace=args.replace, kept_fields=kept)
            print(_t(args, f"producers_import_{s.mode}", file=args.file, added=s.added, updated=s.updated,
                     unchanged=s.unchanged, removed=s.removed, total=s.total))
            return 0
        for p in registry.all():
            if args.json:
                print(json.dumps({"code": p.code, "name": p.name, "active": p.active, "phone": p.phone,
                                  "notify": p.notify}, ensure_ascii=False))
            else:
                state = _t(args, "producer_active" if p.active else "producer_inactive")
                print("\t".join([p.code, p.name, state, p.phone or "-", p.notify or "-"]))
        return 0
    finally:
        registry.close()


def cmd_advances(args: argparse.Namespace) -> int:
    from hub.payments.advances import AdvanceError, parse_new_advance
    lang = _lang(args)
    if args.advances_command == "add":
        if not args.by:
            raise UserError(_t(args, "advances_need_by"))
        zone = _config(args).zone
        try:
            record = parse_new_advance(producer=args.producer, kind=args.kind, amount=args.amount,
                                       installments=args.installments, first_period=args.first_period,
                                       entered_by=args.by, note=args.note, advance_id=args.id,
                                       entered_at=datetime.now(zone).isoformat(timespec="seconds"))
        except AdvanceError as exc:
            raise UserError(exc.text(lang)) from None
        _check_known_producer(args, record.advance.producer)
        ledger = _open_ledger(args)
        try:
            ledger.add_advance(record)
        except AdvanceError as exc:
            raise UserError(exc.text(lang)) from None
        finally:
            ledger.close_db()
        a = record.advance
        print(_t(args, "advance_added", id=a.id, producer=a.producer, amount=str(a.amount),
                 installments=a.installments, first=str(a.first_period), path=str(_ledger_path(args))))
        return 0
    ledger = _open_ledger(args, must_exist=True)
    try:
        if args.advances_command == "cancel":
            if not args.by:
                raise UserError(_t(args, "advances_need_by"))
            zone = _config(args).zone
            try:
                record = ledger.cancel_advance(args.id, args.by,
                                               datetime.now(zone).isoformat(timespec="seconds"))
            except AdvanceError as exc:
                raise UserError(exc.text(lang)) from None
            print(_t(args, "advance_cancelled", id=record.id, producer=record.advance.producer))
            return 0
        for r in ledger.advance_records(args.producer):
            a = r.advance
            if args.json:
                print(json.dumps({"id": a.id, "producer": a.producer, "kind": a.kind, "amount": str(a.amount),
                                  "installments": a.installments, "first_period": str(a.first_period),
                                  "entered_by": r.entered_by, "entered_at": r.entered_at, "note": r.note,
                                  "cancelled_at": r.cancelled_at, "cancelled_by": r.cancelled_by},
                                 ensure_ascii=False))
            else:
                state = _t(args, "advance_state_cancelled" if r.cancelled_at else "advance_state_active")
                print("\t".join([a.id or "", a.producer, a.kind, f"{a.amount:f}", str(a.installments),
                                 str(a.first_period), r.entered_by, r.entered_at, state, r.note]))
        return 0
    finally:
        ledger.close_db()


def _check_known_producer(args, code: str) -> None:
    """The hub's registry is authoritative: when it lists producers, an advance
    for a code it lacks is a typo that would charge nobody (or the wrong one)."""
    if not args.config:
        return
    registry = open_registry(args)
    try:
        if registry.all() and registry.get(code) is None:
            raise UserError(_t(args, "advance_unknown_producer", producer=code))
    finally:
        registry.close()


def cmd_producer(args: argparse.Namespace) -> int:
    from hub.payments.advances import merge_advances
    from hub.payments.errors import PaymentsError
    from hub.payments.periods import Period, period_of
    from hub.producers.history import build_history, render_history

    lang = _lang(args)
    currency, zone = "", None
    if args.pricing:
        from hub.payments.pricing import load_pricing
        try:
            pricing = load_pricing(args.pricing)
        except PaymentsError as exc:
            raise UserError(str(exc)) from None
        currency, zone = pricing.currency, pricing.timezone
    config = _config(args) if args.config else None
    if zone is None:
        zone = config.zone if config else None
    if zone is None:
        from zoneinfo import ZoneInfo
        zone = ZoneInfo("America/Lima")
    if args.periods < 1:
        raise UserError(_t(args, "producer_bad_periods"))
    producer = None
    if config is not None:
        registry = open_registry(args)
        try:
            producer = registry.get(args.code)
        finally:
            registry.close()
    closed, rows, paid_liters, paid_counts, records, advances = [], {}, {}, {}, [], []
    if args.ledger or _ledger_path(args).exists():   # a read never creates a ledger
        ledger = _open_ledger(args, must_exist=True)
        try:
            closed = ledger.closed_periods()
            rows = dict(ledger.closed_rows(args.code))
            paid_liters = ledger.paid_liters(args.code)
            paid_counts = ledger.paid_counts(args.code)
            records = ledger.advance_records(args.code)
            advances = merge_advances([], ledger.advance_records(), ledger.known_advances())
        finally:
            ledger.close_db()
    try:
        current = Period.parse(args.until) if args.until else period_of(datetime.now(zone), zone)
    except PaymentsError as exc:
        raise UserError(str(exc)) from None
    periods = [current]
    while len(periods) < args.periods:
        periods.insert(0, periods[0].previous())
    paid = {p: (paid_counts.get(p, 0), paid_liters[p]) for p in paid_liters}
    open_periods = [p for p in periods if p not in closed]
    open_counts = _open_deliveries(config, args.code, open_periods, zone) if config else {}
    if not producer and not rows and not records and not any(open_counts.values()):
        raise UserError(_t(args, "producer_unknown", producer=args.code))
    history = build_history(args.code, producer, periods, rows, closed, paid, open_counts, records,
                            advances)
    sys.stdout.write(render_history(history, lang, currency))
    return 0


def _open_deliveries(config, code: str, periods, zone) -> dict:
    """(deliveries, accepted litres) per open period from InfluxDB; {} when it cannot be read
    (the history is still worth printing without them: it says so)."""
    from hub.store.deliveries import producer_period_totals
    from hub.store.influx import InfluxError, InfluxV1
    ic = config.influx
    influx = InfluxV1.from_config(ic)
    out = {}
    try:
        for period in periods:
            out[period] = producer_period_totals(influx, code, period, zone, ic.query_chunk_size)
    except InfluxError as exc:
        print(translate("hub", "producer_no_influx", language_from_environment(), error=str(exc)),
              file=sys.stderr)
        return {}
    return out


COMMANDS = {"producers": cmd_producers, "producer": cmd_producer, "advances": cmd_advances}
