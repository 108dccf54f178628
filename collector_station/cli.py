"""`collector-station`: the bench service and the technician's tools.

    collector-station run --config station.toml
    collector-station simulate --dir DIR [--write-config station.toml] [--manual]
    collector-station deliveries --config station.toml [--last N] [--json]
    collector-station calibrate --config station.toml [--first-kg KG --second-kg KG] [--check]
    collector-station assess --density 1.031 --temp-c 15 [--fat 3.5] [--formula richmond] [--json]
    collector-station parse --format FORMAT|auto FILE|-      (formats: docs/instruments.md)
    collector-station coldchain replay TRACE.csv [--config station.toml]
    collector-station set-pin --config station.toml    (the supervisor PIN on standard input)
    collector-station clock --config station.toml [--json]   (may it stamp deliveries? docs/clock.md)
    collector-station sms-test --config station.toml [--to NUMBER]   (the GSM modem)

Exit status 0 on success; 2 with a one-line reason on standard error for a
user's mistake (bad flag, bad file, bad config key). Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

from milk_common.cli import OneLineParser, run_commands

from collector_station.errors import UserError
from collector_station.instruments.protocols import ANALYSIS_FORMATS, INSTRUMENTS, WEIGHT_FORMATS
from collector_station.intake.quality import FORMULAS, assess, flags_text


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="collector-station", description="Milk intake bench station")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser("run", help="run the bench service")
    run.add_argument("--config", required=True, help="station.toml")
    run.add_argument("--console-port", type=int, metavar="N",
                     help="serve the operator's console on this port (default: [console] port)")

    sim = sub.add_parser("simulate", help="virtual scale, densimeter and tank probes")
    sim.add_argument("--dir", required=True, help="folder for the device links and 1-Wire tree")
    sim.add_argument("--write-config", help="write a station.toml pointing at the devices")
    sim.add_argument("--center", default="centro1")
    sim.add_argument("--station", default="banco1")
    sim.add_argument("--mqtt-port", type=int, default=1883)
    sim.add_argument("--access", help="with --write-config: the [mqtt]/[integrity] fragment from "
                     "`milk-hub provision station` (TLS, login, key) instead of a plain broker port")
    sim.add_argument("--tanks", type=int, default=1)
    sim.add_argument("--interval-s", type=float, default=20.0,
                     help="a producer's can arrives this often")
    sim.add_argument("--seed", type=int)
    sim.add_argument("--scale-format", default="ad",
                     choices=WEIGHT_FORMATS,
                     help="the indicator to simulate (bridge: HX711 raw counts)")
    sim.add_argument("--analyzer-format", default="bridge", choices=ANALYSIS_FORMATS,
                     help="densimeter line (bridge) or milk analyzer")
    sim.add_argument("--probes-per-tank", type=int, default=1, choices=range(1, 5), metavar="N")
    sim.add_argument("--glitches", action="store_true",
                     help="line noise, scale unplugged now and then, bad 1-Wire reads")
    sim.add_argument("--manual", action="store_true",
                     help="no automatic producers: the instruments follow lines on standard input "
                          "(can KG DENSITY TEMP_C [FAT], off, tank NAME TEMP_C, unplug, plug)")

    dlv = sub.add_parser("deliveries", help="the recorded deliveries, newest last")
    dlv.add_argument("--config", required=True, help="station.toml")
    dlv.add_argument("--last", type=int, help="only the last N")
    dlv.add_argument("--json", action="store_true", help="one delivery/1 payload per line, as published")

    cal = sub.add_parser("calibrate", help="calibrate the HX711 bridge scale, or --check any scale")
    cal.add_argument("--config", required=True, help="station.toml")
    cal.add_argument("--first-kg", type=_decimal, help="the first known weight (asked when absent)")
    cal.add_argument("--second-kg", type=_decimal, help="the second known weight, to check linearity")
    cal.add_argument("--check", action="store_true", help="the weekly check with the test weight")
    cal.add_argument("--test-kg", type=_decimal, help="the test weight (default [scale] test_weight_kg)")
    cal.add_argument("--timeout-s", type=float, default=30.0,
                     help="longest wait for a steady reading")

    ass = sub.add_parser("assess", help="quality of one density reading")
    ass.add_argument("--density", type=_decimal, required=True, help="g/mL as read")
    ass.add_argument("--temp-c", type=_decimal, required=True, help="milk temperature at reading")
    ass.add_argument("--fat", type=_decimal, help="fat %% (default: the center default 3.5)")
    ass.add_argument("--formula", choices=FORMULAS, default="richmond")
    ass.add_argument("--compensated", action="store_true",
                     help="the density is already referred to 15 °C")
    ass.add_argument("--lang", choices=["es", "en"], default=None,
                     help="default: English only when the locale says so, else Spanish")
    ass.add_argument("--json", action="store_true")

    pin = sub.add_parser("set-pin", help="store the supervisor PIN (read from standard input), hashed")
    pin.add_argument("--config", required=True, help="station.toml")

    ver = sub.add_parser("verify", help="check the station's delivery chain and signatures")
    ver.add_argument("--config", required=True, help="station.toml")
    ver.add_argument("--json", action="store_true")

    pro = sub.add_parser("producers", help="the producer registry")
    pro_sub = pro.add_subparsers(dest="producers_command", required=True, parser_class=OneLineParser)
    imp = pro_sub.add_parser("import", help="merge a CSV (code,name[,active,lab_fat_pct,lab_date]) into the registry")
    imp.add_argument("file")
    imp.add_argument("--replace", action="store_true", help="replace the registry: codes the file lacks are removed")
    imp.add_argument("--config", required=True)
    lst = pro_sub.add_parser("list", help="print the registry")
    lst.add_argument("--config", required=True)

    par = sub.add_parser("parse", help="decode a raw serial capture into JSON lines")
    par.add_argument("--format", required=True,
                     help=f"{', '.join(INSTRUMENTS)}, or auto")
    par.add_argument("file", help="capture file, or - for standard input")

    clk = sub.add_parser("clock", help="may the station stamp deliveries now? (exit 1: it refuses)")
    clk.add_argument("--config", required=True, help="station.toml")
    clk.add_argument("--json", action="store_true")
    smt = sub.add_parser("sms-test", help="send a test SMS through the [alerts] modem")
    smt.add_argument("--config", required=True, help="station.toml")
    smt.add_argument("--to", help="phone number (default: every [alerts] sms_to)")

    cold = sub.add_parser("coldchain", help="tank cold-chain tools")
    cold_sub = cold.add_subparsers(dest="coldchain_command", required=True, parser_class=OneLineParser)
    rep = cold_sub.add_parser("replay", help="replay a tank trace: one JSON line per state change")
    rep.add_argument("trace", help="TRACE.csv (time, tank, temp_c, event)")
    rep.add_argument("--config", help="station.toml (its [coldchain] section) or a coldchain TOML")
    rep.add_argument("--lang", choices=["es", "en"], help="language of the reasons (default: config, es)")
    rep.add_argument("--warnings", action="store_true",
                     help="also print the early warnings (lines with `warning`, no `state`)")
    return parser


def cmd_assess(args: argparse.Namespace) -> int:
    from milk_common.i18n import choose_language
    args.lang = choose_language(args.lang)
    if not (Decimal("0.9") < args.density < Decimal("1.2")):
        raise UserError(f"--density {args.density}: expected g/mL, like 1.031")
    if not (Decimal("-5") <= args.temp_c <= Decimal("80")):
        raise UserError(f"--temp-c {args.temp_c}: outside -5..80 °C")
    if args.fat is not None and not (Decimal(0) <= args.fat < Decimal(20)):
        raise UserError(f"--fat {args.fat}: expected a percentage, like 3.5")
    result = assess(args.density, args.temp_c, args.fat,
                    fat_source="analyzer" if args.fat is not None else None,
                    formula=args.formula, compensated=args.compensated)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    es = args.lang == "es"
    rows = [
        ("Densidad a 15 °C" if es else "Density at 15 °C", f"{result.density_15c:.4f} g/mL"),
        ("Grados lactodensimétricos" if es else "Lactometer degrees", f"{result.lactometer_15c:.1f}"),
        ("Grasa" if es else "Fat", f"{result.fat_pct} % ({result.fat_source})"),
        ("Sólidos totales" if es else "Total solids", f"{result.solids_pct_2dp} % ({result.formula})"),
        ("Sólidos no grasos" if es else "Solids-not-fat", f"{result.snf_pct_2dp} %"),
    ]
    for label, value in rows:
        print(f"{label:<28} {value}")
    for note in flags_text(result.flags, args.lang):
        print(("Aviso: " if es else "Note: ") + note)
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from collector_station.instruments.protocols import detect_format, event_to_json, make_parser
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise UserError(f"{args.file}: cannot read: {exc.strerror}") from None
    fmt = args.format
    if fmt == "auto":
        fmt = detect_format(data)
        if fmt is None:
            raise UserError(f"{args.file}: no known instrument format recognised")
    try:
        parser = make_parser(fmt)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    out = sys.stdout
    for event in parser.feed(data) + parser.flush():
        record = event_to_json(event)
        record["format"] = fmt
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from collector_station.config import load_station_config
    from collector_station.station import Station
    from milk_common.mqtt import check_access
    config = load_station_config(args.config)
    if args.console_port is not None and not 0 <= args.console_port < 65536:
        raise UserError(f"--console-port {args.console_port}: not a port number")
    check_access(config.mqtt)       # a missing CA or password file: one line now, not a retry loop
    station = Station(config).start()
    console = None
    if config.console.enabled:
        from collector_station.console.server import ConsoleServer
        from collector_station.i18n import text
        port = config.console.port if args.console_port is None else args.console_port
        try:
            console = ConsoleServer(station, config.console.bind, port).start()
        except (OSError, TimeoutError) as exc:
            station.stop()
            raise UserError(f"[console] {config.console.bind}:{port}: {exc}") from None
        sys.stderr.write(text(config.language, "console_listening", url=console.url) + "\n")
    stop = threading.Event()

    def _terminate(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    def _operator_input():
        from collector_station.intake.keypad import apply, parse_keypad
        for raw in sys.stdin:
            if raw.strip() and not apply(station, parse_keypad(raw)):
                stop.set()
                return

    if sys.stdin and not sys.stdin.closed:
        threading.Thread(target=_operator_input, daemon=True, name="operator").start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        if console is not None:
            console.stop()
        station.stop()
        station.show("stopping")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from collector_station.instruments.simulate import SimulatedBench, run_forever
    bench = SimulatedBench(Path(args.dir), tanks=args.tanks, seed=args.seed,
                           scale_format=args.scale_format, analyzer_format=args.analyzer_format,
                           probes_per_tank=args.probes_per_tank,
                           garbage_every=50 if args.glitches else 0).start()
    print(f"scale: {bench.scale_port.path}\ndensimeter: {bench.densimeter_port.path}\n"
          f"1-Wire: {bench.w1_dir}", flush=True)
    if args.write_config:
        access = ""
        if args.access:    # the fragment `milk-hub provision station` wrote
            try:
                access = Path(args.access).read_text(encoding="utf-8")
            except OSError as exc:
                raise UserError(f"--access {args.access}: {exc.strerror}") from None
        Path(args.write_config).write_text(bench.station_config_text(
            center=args.center, station=args.station, mqtt_port=args.mqtt_port,
            data_dir=str(Path(args.dir).resolve() / "station-data"), access=access))
        if access:      # it holds the station's password and key
            os.chmod(args.write_config, 0o600)
        # The station knows the simulated producers (p001-p020, with names) from its start.
        from collector_station.technician import seed_sim_producers
        seed_sim_producers(Path(args.dir).resolve() / "station-data", Path(args.dir) / "producers.csv")
        print(f"config: {args.write_config}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        if args.manual:
            from collector_station.technician import run_manual_from
            run_manual_from(sys.stdin, bench, stop)
            while not stop.wait(0.5):
                pass
        else:
            run_forever(bench, args.interval_s, args.seed, stop, glitches=args.glitches)
    finally:
        bench.stop()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the chain is intact, 1 at the first broken link."""
    from milk_common.integrity import first_broken_link

    from collector_station.config import load_station_config
    from collector_station.i18n import text
    from collector_station.outbox.store import Outbox
    from collector_station.station import load_station_key
    config = load_station_config(args.config)
    path = Path(config.data_dir) / "station.sqlite3"
    if not path.exists():
        raise UserError(f"{path}: no station database here (check data_dir)")
    outbox = Outbox(path)
    try:
        records = outbox.deliveries()
    finally:
        outbox.close()
    broken = first_broken_link(records, load_station_key(config))
    lang = config.language
    if args.json:
        print(json.dumps({"ok": broken is None, "records": len(records),
                          "broken_seq": broken[0] if broken else None,
                          "reason": broken[1] if broken else None}))
    elif broken is None:
        print(text(lang, "verify_ok", count=len(records)))
    else:
        print(text(lang, "verify_broken", seq=broken[0],
                   reason=text(lang, f"verify_reason_{broken[1]}")))
    return 0 if broken is None else 1


def cmd_producers(args: argparse.Namespace) -> int:
    from collector_station.config import load_station_config
    from milk_common.contract.registry import RegistryError

    from collector_station.intake.registry import Registry
    config = load_station_config(args.config)
    registry = Registry(Path(config.data_dir) / "registry.sqlite3")
    try:
        if args.producers_command == "import":
            from collector_station.i18n import text
            try:
                s = registry.import_csv(args.file, replace=args.replace)
            except RegistryError as exc:
                raise UserError(exc.text(config.language)) from None
            print(text(config.language, f"producers_import_{s.mode}", file=args.file, added=s.added,
                       updated=s.updated, unchanged=s.unchanged, removed=s.removed, total=s.total))
        else:
            for producer in registry.all():
                print(f"{producer.code}\t{producer.name}\t{'activo' if producer.active else 'inactivo'}")
    finally:
        registry.close()
    return 0


def cmd_coldchain(args: argparse.Namespace) -> int:
    from collector_station.coldchain import (SettingsError, TraceError, load_coldchain_settings,
                                             read_trace, replay)
    try:
        settings = load_coldchain_settings(args.config, args.lang)
        rows = read_trace(args.trace)
    except (SettingsError, TraceError) as exc:
        raise UserError(str(exc)) from None
    out = sys.stdout
    for row, changes, warnings in replay(rows, settings):
        for change in changes:
            out.write(json.dumps(change.to_json(row.time_text), ensure_ascii=False) + "\n")
        if args.warnings:
            for warning in warnings:
                out.write(json.dumps(warning.to_json(row.time_text), ensure_ascii=False) + "\n")
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    from collector_station.technician import cmd_deliveries as deliveries
    return deliveries(args)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from collector_station.technician import cmd_calibrate as calibrate
    return calibrate(args)


def cmd_clock(args: argparse.Namespace) -> int:
    from collector_station.fieldcheck import cmd_clock as clock
    return clock(args)


def cmd_sms_test(args: argparse.Namespace) -> int:
    from collector_station.fieldcheck import cmd_sms_test as sms_test
    return sms_test(args)


def cmd_set_pin(args: argparse.Namespace) -> int:
    """The PIN from standard input (asked twice, hidden, on a terminal); its
    salted scrypt hash into the station's data folder."""
    from collector_station.config import load_station_config
    from collector_station.i18n import text
    from collector_station.supervisor import PinError, store_pin, valid_pin
    config = load_station_config(args.config)
    lang = config.language
    if sys.stdin.isatty():
        import getpass
        pin = getpass.getpass(text(lang, "pin_prompt")).strip()
        if valid_pin(pin) and getpass.getpass(text(lang, "pin_prompt_again")).strip() != pin:
            raise UserError(text(lang, "pin_mismatch"))
    else:
        pin = sys.stdin.readline().strip()
    if not valid_pin(pin):
        raise UserError(text(lang, "pin_invalid"))
    try:
        path = store_pin(config.data_dir, pin)
    except (PinError, OSError) as exc:
        raise UserError(f"{config.data_dir}: {exc}") from None
    print(text(lang, "pin_stored", path=path))
    return 0


COMMANDS = {"clock": cmd_clock, "sms-test": cmd_sms_test, "set-pin": cmd_set_pin, "deliveries": cmd_deliveries, "calibrate": cmd_calibrate, "coldchain": cmd_coldchain, "verify": cmd_verify, "producers": cmd_producers, "run": cmd_run, "simulate": cmd_simulate, "assess": cmd_assess, "parse": cmd_parse}


def main(argv: list[str] | None = None) -> int:
    return run_commands("collector-station", build_parser, COMMANDS, argv)

if __name__ == "__main__":
    sys.exit(main())
