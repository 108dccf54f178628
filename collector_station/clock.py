"""Whether the station's clock may stamp a delivery (docs/clock.md).

A Raspberry Pi has no clock of its own: one that boots without network
starts from the last time `fake-hwclock` saved (or 1970), and every
delivery it records would carry that wrong date into the wrong fortnight.
So before recording, the station asks:

- a time-sync tool: `chronyc tracking` (chrony) or `timedatectl show -p
  NTPSynchronized` (systemd-timesyncd). Synchronised: trusted.
- a real-time clock (DS3231 on I2C, `rtc = "ds3231"`): its time, read from
  sysfs, agrees with the system clock and is not the battery-dead reset
  date: it vouches for the time.
- neither answers: the `[clock] require_sync` setting decides: `auto`
  trusts the clock, `always` refuses; `off` never checks at all (the
  simulated bench, `collector-station simulate --write-config`).

A clock before FLOOR (older than this software) is never trusted unless
checking is off.

`judge` is the pure decision over plain facts; `ClockProbes` gathers the
facts (subprocesses with a timeout, sysfs reads), swappable in tests;
`ClockGuard` re-checks periodically and keeps the latest verdict for the
intake and the status.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from milk_common.config import Section

log = logging.getLogger(__name__)

# No delivery is older than this software: a clock before it is surely wrong
# (a Pi booted without fake-hwclock starts in 1970; a DS3231 whose battery
# died restarts at 2000-01-01).
FLOOR = datetime(2025, 1, 1, tzinfo=UTC)

RequireSync = Literal["auto", "always", "off"]


class ClockConfig(Section):
    """`[clock]`: when the station trusts its clock to stamp deliveries."""

    require_sync: RequireSync = Field(
        "auto", description="auto: trust the clock where no sync tool and no RTC can tell; "
        "always: refuse then; off: never check (simulated benches)")
    rtc: Literal["ds3231", "none"] = Field("none", description="a battery-backed RTC is fitted")
    rtc_dir: str = Field("/sys/class/rtc/rtc0", description="the RTC's sysfs folder")
    rtc_tolerance_s: float = Field(10.0, gt=0, description="RTC and system clock agree within this")
    check_interval_s: float = Field(60.0, gt=0, description="re-check this often (every 5 s while untrusted)")
    probe_timeout_s: float = Field(3.0, gt=0, description="longest wait for chronyc or timedatectl")


@dataclass(frozen=True)
class ClockFacts:
    """What the probes found.

    sync: True/False as the sync tool said; None when no tool answered.
    rtc: "none" (not fitted), "ok" (agrees with the system clock),
    "absent" (configured but no device), "dead" (unreadable or reset to
    its epoch: a flat battery), "disagrees" (differs from the system clock).
    """

    now_utc: datetime
    sync: bool | None = None
    sync_source: str = ""          # chrony | timedatectl | ""
    rtc: str = "none"


@dataclass(frozen=True)
class ClockVerdict:
    """`trusted`, and `basis`: why (a code the status and the texts use).

    Trusted: synced | rtc | unchecked (nothing can tell; `auto`) | off.
    Untrusted: before_floor | unsynced | rtc_absent | rtc_dead |
    rtc_disagrees | no_proof (nothing can tell; `always`).
    """

    trusted: bool
    basis: str

    @property
    def status(self) -> str:
        """The status/1 `clock` value."""
        return self.basis if self.trusted else f"untrusted:{self.basis}"


def judge(require_sync: str, facts: ClockFacts, floor: datetime = FLOOR) -> ClockVerdict:
    """The decision, from facts alone."""
    if require_sync == "off":
        return ClockVerdict(True, "off")
    if facts.now_utc < floor:
        return ClockVerdict(False, "before_floor")
    if facts.sync is True:
        return ClockVerdict(True, "synced")
    if facts.rtc == "ok":
        return ClockVerdict(True, "rtc")
    if facts.sync is False:
        # The sync tool is there and says no; a faulty RTC says nothing better.
        return ClockVerdict(False, "unsynced")
    if facts.rtc in ("absent", "dead", "disagrees"):
        # An RTC was promised and cannot vouch: do not fall back to `auto`.
        return ClockVerdict(False, f"rtc_{facts.rtc}")
    if require_sync == "always":
        return ClockVerdict(False, "no_proof")
    return ClockVerdict(True, "unchecked")


# -- reading the tools' answers (pure) ---------------------------------------
def chrony_synced(output: str) -> bool | None:
    """`chronyc tracking`: "Leap status : Normal" (or an inserted/deleted
    second) is synchronised, "Not synchronised" is not; None if unreadable."""
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "leap status":
            value = value.strip().lower()
            if value.startswith("not synchron"):
                return False
            return value in ("normal", "insert second", "delete second")
    return None


def timedatectl_synced(output: str) -> bool | None:
    """`timedatectl show -p NTPSynchronized --value`: yes / no."""
    value = output.strip().lower()
    return {"yes": True, "no": False}.get(value)


def rtc_state(rtc_epoch_s: int | None, system_epoch_s: float, tolerance_s: float,
              floor: datetime = FLOOR, present: bool = True) -> str:
    """The RTC's word on the time: ok | absent | dead | disagrees."""
    if not present:
        return "absent"
    if rtc_epoch_s is None or rtc_epoch_s < floor.timestamp():
        return "dead"
    if abs(rtc_epoch_s - system_epoch_s) > tolerance_s:
        return "disagrees"
    return "ok"


# -- the probes (shell) -------------------------------------------------------
Runner = Callable[..., subprocess.CompletedProcess]


class ClockProbes:
    """Gathers ClockFacts from the machine; every part swappable in tests.

    `run` is subprocess.run's signature; `which` finds a tool; `rtc_dir` is
    the RTC's sysfs folder; `now` gives the system time (epoch seconds).
    """

    def __init__(self, config: ClockConfig, *, run: Runner = subprocess.run,
                 which: Callable[[str], str | None] = shutil.which,
                 rtc_dir: str | Path | None = None, now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.run = run
        self.which = which
        self.rtc_dir = Path(rtc_dir or config.rtc_dir)
        self.now = now

    def facts(self) -> ClockFacts:
        now_s = self.now()
        sync, source = self._sync()
        rtc = "none"
        if self.config.rtc != "none":
            rtc = rtc_state(self._rtc_epoch(), now_s, self.config.rtc_tolerance_s,
                            present=self.rtc_dir.exists())
        return ClockFacts(datetime.fromtimestamp(now_s, UTC), sync, source, rtc)

    def _sync(self) -> tuple[bool | None, str]:
        for tool, args, reader, source in (
                ("chronyc", ["-n", "tracking"], chrony_synced, "chrony"),
                ("timedatectl", ["show", "-p", "NTPSynchronized", "--value"], timedatectl_synced,
                 "timedatectl")):
            path = self.which(tool)
            if not path:
                continue
            try:
                done = self.run([path, *args], capture_output=True, text=True,
                                timeout=self.config.probe_timeout_s, check=False)
            except (OSError, subprocess.SubprocessError) as exc:
                log.info("clock: %s gave no answer: %s", tool, exc)
                continue
            # A tool that cannot reach its daemon (no systemd, chronyd down) knows nothing.
            answer = reader(done.stdout) if done.returncode == 0 else None
            if answer is not None:
                return answer, source
        return None, ""

    def _rtc_epoch(self) -> int | None:
        try:
            return int((self.rtc_dir / "since_epoch").read_text().strip())
        except (OSError, ValueError):
            # EINVAL here is the kernel saying the RTC's time is invalid (oscillator stopped).
            return None


class ClockGuard:
    """The latest verdict, re-checked every `check_interval_s` (every 5 s
    while untrusted, so the bench opens as soon as the time is known).
    `on_change(verdict)` is called when the verdict's status changes."""

    def __init__(self, config: ClockConfig, probes: ClockProbes | None = None,
                 on_change: Callable[[ClockVerdict], None] | None = None) -> None:
        self.config = config
        self.probes = probes or ClockProbes(config)
        self.on_change = on_change
        self.verdict = ClockVerdict(True, "off") if config.require_sync == "off" else None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def trusted(self) -> bool:
        verdict = self.verdict or self.check()
        return verdict.trusted

    def check(self) -> ClockVerdict:
        """Probe and judge now."""
        if self.config.require_sync == "off":
            verdict = ClockVerdict(True, "off")
        else:
            try:
                verdict = judge(self.config.require_sync, self.probes.facts())
            except Exception:   # a probe's bug must not open the bench on a wrong date
                log.exception("clock check failed")
                verdict = ClockVerdict(False, "no_proof")
        with self._lock:
            before, self.verdict = self.verdict, verdict
        if before is None or before.status != verdict.status:
            (log.info if verdict.trusted else log.warning)("clock: %s", verdict.status)
            if self.on_change:
                try:
                    self.on_change(verdict)
                except Exception:
                    log.exception("clock on_change failed")
        return verdict

    def start(self, stop: threading.Event) -> ClockGuard:
        """Check now, then keep checking in a thread until `stop` is set."""
        self.check()
        if self.config.require_sync != "off":
            self._thread = threading.Thread(target=self._loop, args=(stop,), name="clock",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.check_interval_s if self.trusted else
                            min(5.0, self.config.check_interval_s)):
            self.check()
