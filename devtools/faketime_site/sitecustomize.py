"""Loaded by every Python process of `make test-future` (PYTHONPATH).

Debian 12's libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 shifts the
absolute deadline that Python's time.sleep() hands to
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) by the faked offset, and the
call fails with EINVAL. Timed waits on locks, events and select() are right.
Under libfaketime only, time.sleep waits in select() on the real monotonic
clock instead; nothing else changes.
"""

import os
import select
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):
    _monotonic = time.monotonic

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = _monotonic() + seconds
        while (left := deadline - _monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep
