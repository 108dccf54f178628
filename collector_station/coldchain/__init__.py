"""The tank cold chain (docs/coldchain.md).

- `machine`: the pure state machine per tank (`step`, `apply_event`), over
  plain data; it yields reason codes and values, never text.
- `prediction`: the numpy cooling fit and rise rate behind the early warnings.
- `settings`: `ColdchainSettings`, the `[coldchain]` config section and the
  replay's settings loader (defaults: `milk_common.coldchain_limits`).
- `texts`: reasons in words (i18n domain `coldchain`), at the edge.
- `trace`: reading a TRACE.csv and replaying it.
- `monitor`: `TankMonitor`, the station's SQLite-backed shell.
"""

from collector_station.coldchain.machine import (EVENTS, STATES, Change, TankState, Warning_,
                                                 apply_event, step)
from collector_station.coldchain.monitor import TankMonitor
from collector_station.coldchain.prediction import CoolingFit, fit_cooling, rise_rate_c_per_h
from collector_station.coldchain.settings import (SAMPLES_KEEP_DAYS, ColdchainConfig,
                                                  ColdchainSettings, SettingsError,
                                                  load_coldchain_settings)
from collector_station.coldchain.texts import (WordedChange, WordedWarning, reason_text,
                                               word_change, word_warning)
from collector_station.coldchain.trace import TraceError, TraceRow, parse_time, read_trace, replay

__all__ = ["EVENTS", "STATES", "Change", "ColdchainConfig", "ColdchainSettings", "CoolingFit",
           "SAMPLES_KEEP_DAYS", "SettingsError", "TankMonitor", "TankState", "TraceError", "TraceRow", "Warning_",
           "WordedChange", "WordedWarning", "apply_event", "fit_cooling", "load_coldchain_settings",
           "parse_time", "read_trace", "reason_text", "replay", "rise_rate_c_per_h", "step",
           "word_change", "word_warning"]
