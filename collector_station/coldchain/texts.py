"""The machine's reasons in words, at the edge (the `coldchain` i18n domain).

A change or warning carries a `reason_code` and its values; here the values
are written the way a technician reads them (°C with one decimal, clock
times) and filled into the catalog's sentence in the station's language.
The replay prints, and the monitor publishes, these worded records.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from milk_common.i18n import translate

from collector_station.coldchain.machine import Change, Warning_

DOMAIN = "coldchain"

# Values written as whole numbers; every other number is °C (or °C/h) with one decimal.
_COUNTS = frozenset({"minutes", "seconds"})
# A sensor silence is short: its start is given to the second.
_CLOCK_WITH_SECONDS = frozenset({"sensor_silent"})


def text_key(reason_code: str, state: str) -> str:
    """The catalog key of a reason: `sensor_back` is worded per state it returns to."""
    return f"sensor_back_{state}" if reason_code == "sensor_back" else reason_code


def _written(key: str, name: str, value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S" if key in _CLOCK_WITH_SECONDS else "%H:%M")
    if name in _COUNTS:
        return str(int(value))
    if isinstance(value, (int, float)):
        return f"{value:.1f}"
    return str(value)


def reason_text(key: str, values: dict, lang: str | None) -> str:
    """The sentence for catalog `key` with `values` written for a person."""
    written = {name: _written(key, name, value) for name, value in values.items()}
    return translate(DOMAIN, key, lang, **written)


@dataclass(frozen=True, kw_only=True)
class WordedChange(Change):
    """A change with its reason in words: a replay line, a published message."""

    reason: str

    def to_json(self, time_text: str | None = None) -> dict:
        return {"time": time_text or self.time.isoformat(), "tank": self.tank, "state": self.state,
                "reason": self.reason, "previous": self.previous, "reason_code": self.reason_code,
                "temp_c": self.temp_c}


@dataclass(frozen=True, kw_only=True)
class WordedWarning(Warning_):
    """A warning with its reason in words."""

    reason: str

    def to_json(self, time_text: str | None = None) -> dict:
        return {"time": time_text or self.time.isoformat(), "tank": self.tank, "warning": self.kind,
                "state_now": self.state, "reason": self.reason,
                "eta": self.eta.isoformat() if self.eta else None}


def _fields_of(item: object) -> dict:
    return {f.name: getattr(item, f.name) for f in fields(item)}


def word_change(change: Change, lang: str | None) -> WordedChange:
    """The change with its reason worded in `lang` (es, en)."""
    reason = reason_text(text_key(change.reason_code, change.state), change.values, lang)
    return WordedChange(**_fields_of(change), reason=reason)


def word_warning(warning: Warning_, lang: str | None) -> WordedWarning:
    """The warning with its reason worded in `lang` (es, en)."""
    return WordedWarning(**_fields_of(warning), reason=reason_text(warning.reason_code, warning.values, lang))
