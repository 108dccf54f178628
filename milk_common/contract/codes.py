"""The codes that travel in payloads; their words live in the i18n catalogs."""

from __future__ import annotations

# Why milk was refused at the bench (`reject_reason` of delivery/1). `void`
# is the reason a void record carries.
REJECT_REASONS = ("alcohol_positive", "organoleptic_fail", "acidity_high",
                  "solids_below_floor", "operator_reject")
RECORD_REASONS = REJECT_REASONS + ("void",)

RECORD_KINDS = ("delivery", "void", "correction")

# The tank cold-chain states (coldchain/1 `state`) and early warnings (`warning`).
COLDCHAIN_STATES = ("empty", "cooling", "cold", "break", "sensor_fault")
COLDCHAIN_WARNINGS = ("predicted_miss", "compressor_suspect")

STATION_STATUSES = ("online", "offline")
