"""The supervisor PIN that voids and corrections need.

Stored as a salted scrypt hash in the station's data folder
(`supervisor-pin.json`, mode 600, written atomically), never the PIN
itself. Three wrong PINs in a row lock the check for a minute: a four-digit
PIN can be guessed in 10,000 tries, not in three a minute for a shift.
The lock lives in the station process, shared by every face (console,
keypad); a restart clears it, which needs physical access anyway.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from milk_common.secret_files import hash_secret, secret_matches, write_private

PIN_FILE = "supervisor-pin.json"
MIN_DIGITS, MAX_DIGITS = 4, 12
MAX_FAILURES = 3
LOCK_S = 60.0


class PinError(ValueError):
    """A PIN that cannot be stored (not 4 to 12 digits)."""


def valid_pin(pin: str) -> bool:
    return pin.isdigit() and MIN_DIGITS <= len(pin) <= MAX_DIGITS


def store_pin(data_dir: str | Path, pin: str) -> Path:
    """Hash `pin` with a new salt into data_dir; returns the file written."""
    if not valid_pin(pin):
        raise PinError(f"the PIN must be {MIN_DIGITS} to {MAX_DIGITS} digits")
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**hash_secret(pin), "set_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = folder / PIN_FILE
    write_private(path, json.dumps(record))
    return path


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one check: `ok`, or why not (`not_set`, `missing`,
    `wrong`, `locked`), with the tries left or the seconds the lock still lasts."""

    result: str
    tries_left: int = 0
    locked_s: int = 0

    @property
    def ok(self) -> bool:
        return self.result == "ok"


class SupervisorPin:
    """Checks the supervisor PIN stored in data_dir, with the lock-out."""

    def __init__(self, data_dir: str | Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(data_dir) / PIN_FILE
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._locked_until: float | None = None

    @property
    def is_set(self) -> bool:
        return self.path.exists()

    def _matches(self, pin: str) -> bool:
        return secret_matches(pin, json.loads(self.path.read_text()))

    def check(self, pin: str) -> PinCheck:
        with self._lock:
            now = self.clock()
            if self._locked_until is not None:
                if now < self._locked_until:
                    return PinCheck("locked", locked_s=int(self._locked_until - now + 0.999))
                self._locked_until, self._failures = None, 0
            if not self.is_set:
                return PinCheck("not_set")
            if not pin:                 # nothing typed is no guess: it does not count
                return PinCheck("missing", tries_left=MAX_FAILURES - self._failures)
            try:
                good = valid_pin(pin) and self._matches(pin)
            except (OSError, ValueError, KeyError):
                return PinCheck("not_set")
            if good:
                self._failures = 0
                return PinCheck("ok")
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                self._locked_until = now + LOCK_S
                return PinCheck("locked", locked_s=int(LOCK_S))
            return PinCheck("wrong", tries_left=MAX_FAILURES - self._failures)
