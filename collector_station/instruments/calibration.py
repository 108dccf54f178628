"""Calibrating the HX711 bridge scale, and the weekly check of any scale.

The bridge sends raw counts; the host turns them into kilograms
(`LoadCellCalibration`). Calibration is two-point plus a check:

1. the empty platform gives the zero (`offset_counts`);
2. a first known weight gives the span (`counts_per_kg`);
3. a second known weight, read through the new calibration, must come out
   within the scale's tolerance, or the calibration is refused: two points
   that disagree mean a load cell out of its linear range, something
   rubbing the platform or a wrong weight, and a calibration made from them
   would pay producers on wrong kilograms.

The tolerance is the maximum permissible error (MPE) of OIML R76 for
non-automatic weighing instruments, from the scale's accuracy class and its
verification interval `e` ([scale] accuracy_class, verification_interval_kg):
the MPE on initial verification at a calibration, twice that in service at
the weekly check. docs/calibration.md has the table and the procedure.

Pure parts: `mpe_kg`, `calibrate`, `check`, `SteadyWindow`, `CalibrationSession`,
`check_due`. Shell parts at the end: the files in the station's data folder
(`scale-calibration.json`, `scale-check.json`, both written atomically, and
`calibration.log`, one JSON line per calibration or check), and reading
steady raw counts from a running scale.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from collector_station.instruments.protocols.bridge import LoadCellCalibration

CALIBRATION_FILE = "scale-calibration.json"
CHECK_FILE = "scale-check.json"
LOG_FILE = "calibration.log"
CHECK_EVERY_DAYS = 7

# OIML R76-1 table 6: MPE on initial verification, in verification intervals
# e, by load (also in e) and accuracy class: (upper bound of load, MPE).
MPE_TABLE: dict[str, tuple[tuple[int, Decimal], ...]] = {
    "II": ((5000, Decimal("0.5")), (20000, Decimal("1")), (100000, Decimal("1.5"))),
    "III": ((500, Decimal("0.5")), (2000, Decimal("1")), (10000, Decimal("1.5"))),
    "IIII": ((50, Decimal("0.5")), (200, Decimal("1")), (1000, Decimal("1.5"))),
}
ACCURACY_CLASSES = tuple(MPE_TABLE)


class CalibrationError(ValueError):
    """Points that cannot make a calibration (no span, a weight of 0 kg...)."""


class CalibrationRefused(CalibrationError):
    """The second weight disagrees with the first beyond the tolerance."""

    def __init__(self, true_kg: Decimal, read_kg: Decimal, error_kg: Decimal, tolerance_kg: Decimal) -> None:
        super().__init__(f"second weight {true_kg} kg reads {read_kg} kg "
                         f"(error {error_kg} kg, tolerance {tolerance_kg} kg)")
        self.true_kg, self.read_kg, self.error_kg, self.tolerance_kg = true_kg, read_kg, error_kg, tolerance_kg


def mpe_kg(load_kg: Decimal, interval_kg: Decimal, accuracy_class: str = "III",
           in_service: bool = False) -> Decimal:
    """The maximum permissible error at `load_kg` (OIML R76), in kg.

    Past the table's last load (beyond the class's largest number of
    intervals) the last step applies. In service the MPE doubles.
    """
    if interval_kg <= 0:
        raise CalibrationError("the verification interval must be above 0 kg")
    intervals = abs(Decimal(load_kg)) / Decimal(interval_kg)
    table = MPE_TABLE[accuracy_class]
    factor = next((mpe for upper, mpe in table if intervals <= upper), table[-1][1])
    return factor * Decimal(interval_kg) * (2 if in_service else 1)


def _kg(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Calibration:
    """A saved calibration of the bridge scale, with how it was checked."""

    counts_per_kg: Decimal
    offset_counts: int
    calibrated_at: str            # ISO 8601 with offset
    empty_counts: int
    first_kg: Decimal
    first_counts: int
    second_kg: Decimal
    second_counts: int
    second_read_kg: Decimal       # the second weight through the new calibration
    error_kg: Decimal
    tolerance_kg: Decimal
    accuracy_class: str = "III"
    interval_kg: Decimal = Decimal("0.01")

    def load_cell(self, resolution_kg: Decimal = Decimal("0.01")) -> LoadCellCalibration:
        return LoadCellCalibration(self.counts_per_kg, self.offset_counts, resolution_kg)

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        decimals = {"counts_per_kg", "first_kg", "second_kg", "second_read_kg", "error_kg",
                    "tolerance_kg", "interval_kg"}
        fields = cls.__dataclass_fields__
        return cls(**{k: (Decimal(v) if k in decimals else v) for k, v in data.items() if k in fields})


def calibrate(empty_counts: int, first_counts: int, first_kg: Decimal, second_counts: int,
              second_kg: Decimal, *, interval_kg: Decimal, accuracy_class: str = "III",
              now: datetime) -> Calibration:
    """Counts per kg and zero from the empty platform and the first weight,
    verified with the second. Raises CalibrationRefused when the second
    weight reads outside the MPE on initial verification, CalibrationError
    when the points cannot make a calibration at all."""
    if now.tzinfo is None:
        raise ValueError("the calibration time must carry its time zone")
    first_kg, second_kg = Decimal(first_kg), Decimal(second_kg)
    if first_kg <= 0 or second_kg <= 0:
        raise CalibrationError("the known weights must be above 0 kg")
    if first_kg == second_kg:
        raise CalibrationError("the second weight must differ from the first to check linearity")
    if first_counts == empty_counts:
        raise CalibrationError("the first weight did not change the reading: is the load cell connected?")
    counts_per_kg = (Decimal(first_counts - empty_counts) / first_kg).quantize(Decimal("0.0001"))
    read_kg = _kg(Decimal(second_counts - empty_counts) / counts_per_kg)
    error_kg = _kg(read_kg - second_kg)
    tolerance_kg = mpe_kg(second_kg, interval_kg, accuracy_class)
    if abs(error_kg) > tolerance_kg:
        raise CalibrationRefused(second_kg, read_kg, error_kg, tolerance_kg)
    return Calibration(counts_per_kg, empty_counts, now.isoformat(timespec="seconds"), empty_counts,
                       first_kg, first_counts, second_kg, second_counts, read_kg, error_kg,
                       tolerance_kg, accuracy_class, Decimal(interval_kg))


@dataclass(frozen=True)
class CheckResult:
    """The weekly check: a test weight read against the in-service MPE."""

    ok: bool
    true_kg: Decimal
    read_kg: Decimal
    error_kg: Decimal
    tolerance_kg: Decimal
    checked_at: str

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def check(read_kg: Decimal, true_kg: Decimal, *, interval_kg: Decimal, accuracy_class: str = "III",
          now: datetime) -> CheckResult:
    """Does the scale read the test weight within the in-service MPE?"""
    if Decimal(true_kg) <= 0:
        raise CalibrationError("the test weight must be above 0 kg")
    error_kg = _kg(Decimal(read_kg) - Decimal(true_kg))
    tolerance_kg = mpe_kg(Decimal(true_kg), interval_kg, accuracy_class, in_service=True)
    return CheckResult(abs(error_kg) <= tolerance_kg, Decimal(true_kg), Decimal(read_kg), error_kg,
                       tolerance_kg, now.isoformat(timespec="seconds"))


def check_due(last_checked_at: str | None, now: datetime, every_days: int = CHECK_EVERY_DAYS) -> bool:
    """True when the scale was never checked, or last more than `every_days` ago."""
    if not last_checked_at:
        return True
    return now - datetime.fromisoformat(last_checked_at) > timedelta(days=every_days)


class SteadyWindow:
    """Raw counts in, one steady reading out: the mean of the last `size`
    samples once their spread is within `max_spread_counts` (a platform
    still swinging, or a hand on it, never becomes a calibration point)."""

    def __init__(self, size: int = 20, max_spread_counts: int = 200) -> None:
        self.samples: deque[int] = deque(maxlen=size)
        self.max_spread_counts = max_spread_counts

    def add(self, raw: int) -> int | None:
        self.samples.append(raw)
        if len(self.samples) < self.samples.maxlen:
            return None
        if max(self.samples) - min(self.samples) > self.max_spread_counts:
            return None
        return round(sum(self.samples) / len(self.samples))


class CalibrationSession:
    """The technician's three steps as a small state machine (CLI and console).

    `step` is `empty`, `first`, `second` (what to put on the platform next),
    then `done` or `refused`. `record(counts)` takes the steady reading for
    the current step; after the last one `result` holds the Calibration, or
    `refusal` the CalibrationRefused.
    """

    def __init__(self, first_kg: Decimal, second_kg: Decimal, *, interval_kg: Decimal,
                 accuracy_class: str = "III", clock: Callable[[], datetime]) -> None:
        if Decimal(first_kg) <= 0 or Decimal(second_kg) <= 0:
            raise CalibrationError("the known weights must be above 0 kg")
        if Decimal(first_kg) == Decimal(second_kg):
            raise CalibrationError("the second weight must differ from the first to check linearity")
        self.first_kg, self.second_kg = Decimal(first_kg), Decimal(second_kg)
        self.interval_kg, self.accuracy_class, self.clock = interval_kg, accuracy_class, clock
        self.step = "empty"
        self.counts: dict[str, int] = {}
        self.result: Calibration | None = None
        self.refusal: CalibrationRefused | None = None

    @property
    def weight_kg(self) -> Decimal | None:
        """The known weight the current step asks for (None for the empty platform)."""
        return {"first": self.first_kg, "second": self.second_kg}.get(self.step)

    def record(self, counts: int) -> str:
        if self.step not in ("empty", "first", "second"):
            raise CalibrationError(f"the session is {self.step}")
        self.counts[self.step] = counts
        self.step = {"empty": "first", "first": "second", "second": "done"}[self.step]
        if self.step == "done":
            try:
                self.result = calibrate(self.counts["empty"], self.counts["first"], self.first_kg,
                                        self.counts["second"], self.second_kg,
                                        interval_kg=self.interval_kg,
                                        accuracy_class=self.accuracy_class, now=self.clock())
            except CalibrationRefused as refused:
                self.refusal, self.step = refused, "refused"
        return self.step


# -- the station's data folder ----------------------------------------------
def _write_atomic(path: Path, data: dict) -> None:
    """Write a temporary sibling, flush it to disk, then rename over `path`:
    a power cut leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _log(data_dir: Path, entry: dict) -> None:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(data_dir) / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def save_calibration(data_dir: str | Path, calibration: Calibration) -> Path:
    """Save a calibration (atomically) and log it; it also counts as a check."""
    data_dir = Path(data_dir)
    path = data_dir / CALIBRATION_FILE
    _write_atomic(path, calibration.to_json())
    _write_atomic(data_dir / CHECK_FILE, {"checked_at": calibration.calibrated_at, "ok": True,
                                          "by": "calibration"})
    _log(data_dir, {"event": "calibrated", **calibration.to_json()})
    return path


def log_refusal(data_dir: str | Path, refused: CalibrationRefused, now: datetime) -> None:
    _log(Path(data_dir), {"event": "refused", "at": now.isoformat(timespec="seconds"),
                          "true_kg": str(refused.true_kg), "read_kg": str(refused.read_kg),
                          "error_kg": str(refused.error_kg), "tolerance_kg": str(refused.tolerance_kg)})


def save_check(data_dir: str | Path, result: CheckResult) -> None:
    """Log a check; a passed one restarts the weekly reminder."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if result.ok:
        _write_atomic(data_dir / CHECK_FILE, {"checked_at": result.checked_at, "ok": True,
                                              "by": "check", **result.to_json()})
    _log(data_dir, {"event": "check_passed" if result.ok else "check_failed", **result.to_json()})


def load_calibration(data_dir: str | Path) -> Calibration | None:
    """The saved calibration, or None when there is none yet. A file that
    cannot be read raises CalibrationError (the station then keeps the
    config's values and says so)."""
    path = Path(data_dir) / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, ArithmeticError) as exc:
        raise CalibrationError(f"{path}: unreadable ({exc})") from None


def last_checked_at(data_dir: str | Path) -> str | None:
    path = Path(data_dir) / CHECK_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("checked_at")
    except (OSError, ValueError):
        return None


# -- reading a scale -----------------------------------------------------------
class RawCounts:
    """Collects the load cell's raw counts from a Scale (its `raw_listeners`),
    and waits for a steady reading."""

    def __init__(self) -> None:
        self._samples: deque[int] = deque(maxlen=1000)
        self._changed = threading.Condition()

    def __call__(self, raw: int) -> None:
        with self._changed:
            self._samples.append(raw)
            self._changed.notify_all()

    def steady(self, window: SteadyWindow, timeout_s: float = 20.0,
               clock: Callable[[], float] = time.monotonic) -> int | None:
        """The first steady reading from samples arriving from now on, or None after `timeout_s`."""
        deadline = clock() + timeout_s
        with self._changed:
            self._samples.clear()
        window.samples.clear()
        while clock() < deadline:
            with self._changed:
                if not self._samples:
                    self._changed.wait(min(0.2, max(deadline - clock(), 0)))
                batch = list(self._samples)
                self._samples.clear()
            for raw in batch:
                steady = window.add(raw)
                if steady is not None:
                    return steady
        return None
