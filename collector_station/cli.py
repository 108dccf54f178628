"""`collector-station`: the bench service and the technician's tools.

    collector-station run --config station.toml
    collector-station simulate --dir DIR [--write-config station.toml]
    collector-station assess --density 1.031 --temp-c 15 [--fat 3.5] [--formula richmond] [--json]
    collector-station parse --format ad|bridge|auto FILE|-

Exit status 0 on success; 2 with a one-line reason on standard error for a
user's mistake (bad flag, bad file, bad config key). Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path

from milk_common.cli import OneLineParser, run_commands

from .errors import UserError
from .quality import FORMULAS, assess, flags_text


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

    sim = sub.add_parser("simulate", help="virtual scale, densimeter and tank probes")
    sim.add_argument("--dir", required=True, help="folder for the device links and 1-Wire tree")
    sim.add_argument("--write-config", help="write a station.toml pointing at the devices")
    sim.add_argument("--center", default="centro1")
    sim.add_argument("--station", default="banco1")
    sim.add_argument("--mqtt-port", type=int, default=1883)
    sim.add_argument("--tanks", type=int, default=1)
    sim.add_argument("--interval-s", type=float, default=20.0,
                     help="a producer's can arrives this often")
    sim.add_argument("--seed", type=int)

    ass = sub.add_parser("assess", help="quality of one density reading")
    ass.add_argument("--density", type=_decimal, required=True, help="g/mL as read")
    ass.add_argument("--temp-c", type=_decimal, required=True, help="milk temperature at reading")
    ass.add_argument("--fat", type=_decimal, help="fat %% (default: the center default 3.5)")
    ass.add_argument("--formula", choices=FORMULAS, default="richmond")
    ass.add_argument("--compensated", action="store_true",
                     help="the density is already referred to 15 °C")
    ass.add_argument("--lang", choices=["es", "en"], default="es")
    ass.add_argument("--json", action="store_true")

    par = sub.add_parser("parse", help="decode a raw serial capture into JSON lines")
    par.add_argument("--format", required=True, help="ad, bridge, ... or auto")
    par.add_argument("file", help="capture file, or - for standard input")
    return parser


def cmd_assess(args: argparse.Namespace) -> int:
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
    from .protocols import detect_format, event_to_json, make_parser
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
    for event in parser.feed(data) + parser.feed(b"\n"):
        record = event_to_json(event)
        record["format"] = fmt
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_station_config
    from .station import Station
    config = load_station_config(args.config)
    station = Station(config).start()
    stop = threading.Event()

    def _terminate(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    def _operator_input():
        # A USB keypad is a keyboard: one producer code per line; `t` tares.
        for raw in sys.stdin:
            entry = raw.strip()
            if not entry:
                continue
            if entry.lower() in ("t", "tara", "tare"):
                station.tare()
            elif entry.lower() in ("q", "salir", "quit"):
                stop.set()
                return
            else:
                station.enter_producer(entry)

    if sys.stdin and not sys.stdin.closed:
        threading.Thread(target=_operator_input, daemon=True, name="operator").start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        station.stop()
        station.show("stopping")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimulatedBench, run_forever
    bench = SimulatedBench(Path(args.dir), tanks=args.tanks, seed=args.seed).start()
    print(f"scale: {bench.scale_port.path}\ndensimeter: {bench.densimeter_port.path}\n"
          f"1-Wire: {bench.w1_dir}", flush=True)
    if args.write_config:
        Path(args.write_config).write_text(bench.station_config_text(
            center=args.center, station=args.station, mqtt_port=args.mqtt_port,
            data_dir=str(Path(args.dir).resolve() / "station-data")))
        print(f"config: {args.write_config}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    try:
        run_forever(bench, args.interval_s, args.seed, stop)
    finally:
        bench.stop()
    return 0


COMMANDS = {"run": cmd_run, "simulate": cmd_simulate, "assess": cmd_assess, "parse": cmd_parse}


def main(argv: list[str] | None = None) -> int:
    return run_commands("collector-station", build_parser(), COMMANDS, argv)

if __name__ == "__main__":
    sys.exit(main())
