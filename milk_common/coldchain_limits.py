"""The cold-chain defaults, written once (docs/quality.md, "Cold
chain at the collection center").

The station's machine settings (`collector_station.coldchain.settings`),
the defaults of its `[coldchain]` config section and the limit lines of
the hub's alert chart all read these numbers, so they cannot drift apart.
Pure data: no I/O, no imports from the station or the hub.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColdchainLimits:
    """Thresholds of the cold chain per tank, and the tuning of its prediction."""

    # The rules
    cooling_window_s: float = 7200.0      # the window after each addition (2 h)
    first_check_s: float = 3600.0         # the intermediate check (1 h after the addition) ...
    first_check_max_c: float = 10.0       # ... and its limit
    target_c: float = 4.0                 # end-of-window limit, "cold" earlier, recovery from break
    cold_max_c: float = 6.0               # cold holds at or below this
    warm_break_s: float = 900.0           # continuous time above cold_max_c that is a break (15 min)
    sensor_silence_s: float = 120.0       # no valid reading this long: sensor_fault
    blend_max_c: float | None = None      # optional (off): first reading after an addition above it is a break
    # The prediction (early warnings)
    setpoint_c: float = 3.5               # the compressor's set point: where the cooling curve levels off
    predict_window_s: float = 1800.0      # recent samples fitted
    predict_skip_s: float = 120.0         # mixing right after an addition is not cooling
    predict_min_samples: int = 5
    predict_min_span_s: float = 300.0
    predict_confirm: int = 2              # consecutive missing projections before warning
    rise_window_s: float = 3600.0         # trend window while cold
    rise_min_span_s: float = 1200.0
    rise_warn_c_per_h: float = 0.5

    def chart_lines_c(self) -> tuple[float, ...]:
        """The limits drawn on a tank's temperature chart, lowest first; the
        last one (the 1-hour check) is drawn as the hard limit."""
        return (self.target_c, self.cold_max_c, self.first_check_max_c)


COLDCHAIN_DEFAULTS = ColdchainLimits()
