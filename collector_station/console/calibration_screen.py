"""The technician's screen in the console: calibrate the HX711 bridge scale
and do the weekly check with the test weight, behind the supervisor's PIN.

The arithmetic, the tolerance and the files are the calibration module's
(`instruments/calibration.py`, the same as `collector-station calibrate`):
this is only its touch face. A calibration goes through the three steps of
a `CalibrationSession` (empty platform, first known weight, second known
weight to check linearity); each step reads the running scale's next steady
raw counts. A refused calibration saves nothing; a saved one is used by the
scale at once. What the technician reads comes from the `station` catalog
(`cal.*`), as on the command line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from collector_station.instruments import calibration as cal

# How long the screen stays open after the PIN, untouched.
UNLOCK_S = 600.0
# How long one step waits for the platform to come to rest.
STEADY_TIMEOUT_S = 30.0


def _kg_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def parse_kg(value: object) -> Decimal | None:
    """A mass typed on the screen (`20`, `10.5`, `10,5`), or None."""
    try:
        kg = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return kg if kg.is_finite() and Decimal(0) < kg < Decimal(10000) else None


class CalibrationScreen:
    """The technician's session on the console (one at a time: one scale)."""

    def __init__(self, station, clock: Callable[[], float] = time.monotonic) -> None:
        self.station = station
        self.clock = clock
        self.unlocked_until = 0.0
        self.session: cal.CalibrationSession | None = None
        self.busy = False
        self._lock = threading.Lock()

    # -- the PIN ------------------------------------------------------------
    @property
    def unlocked(self) -> bool:
        return self.clock() < self.unlocked_until

    def unlock(self, pin: str) -> bool:
        check = self.station.supervisor.check(pin)
        if check.ok:
            self.unlocked_until = self.clock() + UNLOCK_S
            self.station.show("technician_open")
            return True
        if check.result == "locked":
            self.station.show("supervisor_locked", seconds=check.locked_s)
        elif check.result == "not_set":
            self.station.show("supervisor_not_set")
        elif check.result == "missing":
            self.station.show("supervisor_pin_needed")
        else:
            self.station.show("supervisor_wrong", tries=check.tries_left)
        return False

    def lock(self) -> None:
        self.unlocked_until = 0.0
        if self.session is not None and self.session.step in ("empty", "first", "second"):
            self.station.show("cal.interrupted")
        self.session = None

    def _touch(self) -> bool:
        if not self.unlocked:
            self.session = None
            self.station.show("supervisor_pin_needed")
            return False
        self.unlocked_until = self.clock() + UNLOCK_S
        return True

    # -- calibration --------------------------------------------------------
    @property
    def bridge(self) -> bool:
        """The scale is a raw load cell the host calibrates (format `bridge`)."""
        return self.station.scale.calibration is not None

    def start(self, first_kg: object, second_kg: object) -> bool:
        if not self._touch():
            return False
        sc = self.station.config.scale
        if not self.bridge:
            self.station.show("cal.not_bridge", format=sc.format)
            return False
        first, second = parse_kg(first_kg), parse_kg(second_kg)
        for typed, kg in ((first_kg, first), (second_kg, second)):
            if kg is None:
                self.station.show("cal.bad_kg", value=typed)
                return False
        if first == second:
            self.station.show("cal.same_weights")
            return False
        self.session = cal.CalibrationSession(first, second, interval_kg=sc.interval_kg,
                                              accuracy_class=sc.accuracy_class, clock=self.station.clock)
        self.station.show(self.prompt_key(), kg=_kg_text(second))
        return True

    def prompt_key(self) -> str:
        return "cal.step_empty_screen" if self.session.step == "empty" else "cal.step_weight_screen"

    def read(self) -> bool:
        """Read the platform for the current step (blocks up to STEADY_TIMEOUT_S)."""
        if not self._touch() or self.session is None:
            return False
        with self._lock:
            if self.busy:
                return False
            self.busy = True
        try:
            self.station.show("cal.reading")
            counts = self.station.steady_scale_counts(STEADY_TIMEOUT_S)
            if counts is None:
                self.station.show("cal.no_reading", seconds=int(STEADY_TIMEOUT_S))
                return False
            step = self.session.record(counts)
        finally:
            self.busy = False
        data_dir = self.station.config.data_dir
        if step == "refused":
            r = self.session.refusal
            cal.log_refusal(data_dir, r, self.station.clock())
            self.station.show("cal.refused", true_kg=_kg_text(r.true_kg), read_kg=r.read_kg,
                              error_kg=r.error_kg, tolerance_kg=r.tolerance_kg)
            self.session = None
            return False
        if step == "done":
            result = self.session.result
            cal.save_calibration(data_dir, result)
            self.station.apply_calibration(result)
            self.station.show("cal.saved", counts_per_kg=result.counts_per_kg,
                              offset_counts=result.offset_counts, read_kg=result.second_read_kg,
                              error_kg=result.error_kg, tolerance_kg=result.tolerance_kg)
            self.session = None
            return True
        self.station.show(self.prompt_key(), kg=_kg_text(self.session.weight_kg))
        return True

    def cancel(self) -> None:
        if self.session is not None:
            self.session = None
            self.station.show("cal.interrupted")

    # -- the weekly check ---------------------------------------------------
    def check(self, test_kg: object) -> bool:
        """The test weight on the platform, read against the in-service tolerance."""
        if not self._touch():
            return False
        true_kg = parse_kg(test_kg)
        if true_kg is None:
            self.station.show("cal.bad_kg", value=test_kg)
            return False
        sc = self.station.config.scale
        scale = self.station.scale
        deadline = self.clock() + STEADY_TIMEOUT_S
        read_kg = None
        while self.clock() < deadline:
            with scale.changed:
                if scale.state == "stable" and scale.stable_kg is not None:
                    read_kg = scale.stable_kg
                    break
                scale.changed.wait(0.2)
        if read_kg is None:
            self.station.show("cal.no_reading", seconds=int(STEADY_TIMEOUT_S))
            return False
        result = cal.check(read_kg, true_kg, interval_kg=sc.interval_kg,
                           accuracy_class=sc.accuracy_class, now=self.station.clock())
        cal.save_check(self.station.config.data_dir, result)
        self.station.show("cal.check_ok" if result.ok else "cal.check_failed", true_kg=_kg_text(true_kg),
                          read_kg=result.read_kg, tolerance_kg=result.tolerance_kg)
        return result.ok

    # -- what the screen shows ----------------------------------------------
    def view(self) -> dict:
        status = self.station.scale_check_status()
        session = self.session
        return {
            "unlocked": self.unlocked,
            "bridge": self.bridge,
            "busy": self.busy,
            "step": session.step if session else None,
            "weight_kg": _kg_text(session.weight_kg) if session and session.weight_kg else None,
            "calibrated_at": (status["calibrated_at"] or "-")[:16].replace("T", " "),
            "last_checked_at": (status["last_checked_at"] or "-")[:16].replace("T", " "),
            "check_due": status["check_due"],
            "test_weight_kg": _kg_text(self.station.config.scale.test_weight_kg),
        }
