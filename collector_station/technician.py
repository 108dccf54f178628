"""The technician's commands: `deliveries`, `calibrate`, and `simulate --manual`.

The thin shell around pure parts: outbox/listing.py (the table),
instruments/calibration.py (the arithmetic and the tolerance),
instruments/manual.py (the typed lines). Texts from the `station` catalog
in the station's language; a user's mistake is a UserError (one line).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from milk_common.i18n import language_from_environment

from collector_station.errors import UserError
from collector_station.i18n import text


# -- deliveries ---------------------------------------------------------------
def cmd_deliveries(args: argparse.Namespace) -> int:
    import json

    from collector_station.config import load_station_config
    from collector_station.outbox.listing import recorded_texts, table_lines
    config = load_station_config(args.config)
    lang = config.language
    if args.last is not None and args.last < 1:
        raise UserError(text(lang, "deliveries.bad_last", value=args.last))
    path = Path(config.data_dir) / "station.sqlite3"
    try:
        texts = recorded_texts(path, args.last)
    except FileNotFoundError:
        raise UserError(text(lang, "deliveries.no_database", path=path)) from None
    out = sys.stdout
    if args.json:
        for record in texts:          # the bytes the station published, one per line
            out.write(record + "\n")
        return 0
    records = [json.loads(t) for t in texts]
    names = _producer_names(Path(config.data_dir) / "registry.sqlite3")
    by_id = _seq_by_id(path, {r["refers_to"] for r in records if r.get("refers_to")})
    for line in table_lines(records, lang, names=lambda code: names.get(code, ""), seq_of=by_id.get):
        out.write(line + "\n")
    return 0


def _producer_names(path: Path) -> dict[str, str]:
    """Codes to names from the station's registry, read-only (none: no names)."""
    import sqlite3
    if not path.exists():
        return {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return dict(db.execute("SELECT code, name FROM producers").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()


def _seq_by_id(path: Path, ids: set[str]) -> dict[str, int]:
    """Sequence numbers of the deliveries that voids and corrections refer to."""
    import sqlite3
    if not ids:
        return {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        marks = ",".join("?" * len(ids))
        return {i: s for i, s in db.execute(f"SELECT id, seq FROM deliveries WHERE id IN ({marks})",
                                            sorted(ids))}
    finally:
        db.close()


# -- simulate --manual and the simulated registry --------------------------------
def seed_sim_producers(data_dir: Path, csv_path: Path) -> int:
    """Write the simulated producers to `csv_path` and load them into the
    station's registry in `data_dir`, so `run` knows them from its start."""
    from collector_station.instruments.manual import SIM_PRODUCERS
    from collector_station.intake.registry import Registry
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["code", "name"])
        writer.writerows(SIM_PRODUCERS)
    registry = Registry(Path(data_dir) / "registry.sqlite3")
    try:
        return registry.import_csv(str(csv_path))
    finally:
        registry.close()


def run_manual_from(stream: TextIO, bench, stop: threading.Event, err: TextIO | None = None) -> None:
    """`simulate --manual`: apply the lines of `stream` until it ends or
    `stop` is set. The instruments stay up after the end of input (a script
    of lines piped in, or no terminal at all) until the simulator is
    stopped. A bad line is one Spanish line on standard error (English
    under an English locale), and nothing else."""
    from collector_station.instruments.manual import run_manual
    lang = language_from_environment()
    err = err or sys.stderr

    def complain(error) -> None:
        err.write(text(lang, error.key, **error.values) + "\n")
        err.flush()

    def read() -> None:
        try:
            run_manual(bench, iter(stream.readline, ""), complain, stop)
        except Exception:          # never a traceback for a typed line; the devices stay up
            logging.getLogger(__name__).exception("manual input stopped")

    threading.Thread(target=read, name="manual-input", daemon=True).start()
    sys.stdout.write(text(lang, "sim.manual_ready") + "\n")
    sys.stdout.flush()


# -- calibrate ---------------------------------------------------------------------
def _ask(prompt: str, stdin: TextIO, stdout: TextIO, lang: str) -> str:
    stdout.write(prompt + "\n")
    stdout.flush()
    line = stdin.readline()
    if not line:
        raise UserError(text(lang, "cal.interrupted"))
    return line.strip()


def _mass(value: str | Decimal | None, which: str, stdin, stdout, lang: str) -> Decimal:
    raw = value if value is not None else _ask(
        text(lang, "cal.ask_kg", which=text(lang, f"cal.{which}")).rstrip(), stdin, stdout, lang)
    try:
        mass = Decimal(str(raw).replace(",", "."))
    except InvalidOperation:
        mass = None
    if mass is None or not mass.is_finite() or mass <= 0:
        raise UserError(text(lang, "cal.bad_kg", value=raw))
    return mass


def _kg_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def cmd_calibrate(args: argparse.Namespace, stdin: TextIO | None = None,
                  stdout: TextIO | None = None) -> int:
    """Interactive: the technician empties the platform and puts the known
    weights on when asked (Enter after each). `--check`: the weekly check
    with the test weight."""
    from collector_station.config import load_station_config
    from collector_station.instruments import calibration as cal
    from collector_station.instruments.devices import Scale
    from collector_station.instruments.protocols import instrument
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    config = load_station_config(args.config)
    lang, sc, data_dir = config.language, config.scale, Path(config.data_dir)
    bridge = instrument(sc.format).calibrated_on_host
    if not bridge and not args.check:
        raise UserError(text(lang, "cal.not_bridge", format=sc.format))
    scale = Scale.from_config(sc)
    if bridge:
        try:
            saved = cal.load_calibration(data_dir)
        except cal.CalibrationError as exc:
            saved = None
            stdout.write(f"{exc}\n")
        if saved is not None:
            scale.calibration = saved.load_cell(sc.resolution_kg)
    now = lambda: datetime.now(config.zone)  # noqa: E731
    timeout_s = args.timeout_s
    scale.instrument.start()
    try:
        if args.check:
            return _check(scale, args, stdin, stdout, lang, sc, data_dir, now, timeout_s)
        first = _mass(args.first_kg, "first", stdin, stdout, lang)
        second = _mass(args.second_kg, "second", stdin, stdout, lang)
        if first == second:
            raise UserError(text(lang, "cal.same_weights"))
        try:
            session = cal.CalibrationSession(first, second, interval_kg=sc.interval_kg,
                                             accuracy_class=sc.accuracy_class, clock=now)
        except cal.CalibrationError as exc:
            raise UserError(str(exc)) from None
        raw = cal.RawCounts()
        scale.raw_listeners.append(raw)
        # A platform at rest keeps within one interval e (nominal counts per kg).
        spread = max(int(abs(sc.counts_per_kg) * sc.interval_kg), 20)
        while session.step in ("empty", "first", "second"):
            prompt = (text(lang, "cal.step_empty") if session.step == "empty"
                      else text(lang, "cal.step_weight", kg=_kg_text(session.weight_kg)))
            _ask(prompt, stdin, stdout, lang)
            stdout.write(text(lang, "cal.reading") + "\n")
            stdout.flush()
            counts = raw.steady(cal.SteadyWindow(20, spread), timeout_s)
            if counts is None:
                raise UserError(text(lang, "cal.no_reading", seconds=int(timeout_s)))
            stdout.write(text(lang, "cal.read_counts", counts=counts) + "\n")
            session.record(counts)
        if session.refusal is not None:
            r = session.refusal
            cal.log_refusal(data_dir, r, now())
            sys.stderr.write(text(lang, "cal.refused", true_kg=_kg_text(r.true_kg), read_kg=r.read_kg,
                                  error_kg=r.error_kg, tolerance_kg=r.tolerance_kg) + "\n")
            return 1
        result = session.result
        cal.save_calibration(data_dir, result)
        stdout.write(text(lang, "cal.saved", counts_per_kg=result.counts_per_kg,
                          offset_counts=result.offset_counts, read_kg=result.second_read_kg,
                          error_kg=result.error_kg, tolerance_kg=result.tolerance_kg) + "\n")
        return 0
    finally:
        scale.instrument.stop()


def _check(scale, args, stdin, stdout, lang, sc, data_dir, now, timeout_s) -> int:
    from collector_station.instruments import calibration as cal
    true_kg = _mass(args.test_kg if args.test_kg is not None else sc.test_weight_kg, "test",
                    stdin, stdout, lang)
    _ask(text(lang, "cal.step_weight", kg=_kg_text(true_kg)), stdin, stdout, lang)
    stdout.write(text(lang, "cal.reading") + "\n")
    stdout.flush()
    read_kg = _wait_stable(scale, timeout_s)
    if read_kg is None:
        raise UserError(text(lang, "cal.no_reading", seconds=int(timeout_s)))
    result = cal.check(read_kg, true_kg, interval_kg=sc.interval_kg,
                       accuracy_class=sc.accuracy_class, now=now())
    cal.save_check(data_dir, result)
    key = "cal.check_ok" if result.ok else "cal.check_failed"
    message = text(lang, key, true_kg=_kg_text(true_kg), read_kg=result.read_kg,
                   tolerance_kg=result.tolerance_kg)
    if not result.ok:
        sys.stderr.write(message + "\n")
        return 1
    stdout.write(message + "\n")
    return 0


def _wait_stable(scale, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> Decimal | None:
    """The scale's next stable weight, after what it read before (a weight
    put on just now must swing and settle first)."""
    deadline = clock() + timeout_s
    # Let the stability window start from frames taken after the prompt.
    time.sleep(min(0.5, timeout_s))
    while clock() < deadline:
        with scale.changed:
            if scale.state == "stable" and scale.stable_kg is not None:
                return scale.stable_kg
            scale.changed.wait(0.2)
    return None
