"""The cold chain's settings: the machine's thresholds (`ColdchainSettings`,
seconds and °C), the station.toml `[coldchain]` section that yields them
(`ColdchainConfig`, minutes where a person types minutes), and the loader
of a replay's settings file. Every default comes from
`milk_common.coldchain_limits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from milk_common.coldchain_limits import COLDCHAIN_DEFAULTS as D
from milk_common.coldchain_limits import ColdchainLimits
from milk_common.config import Section, describe_validation_error, load_toml
from milk_common.contract.ids import IDENT_PATTERN
from milk_common.i18n import LANGUAGES


class SettingsError(ValueError):
    """A bad coldchain settings file, as one line naming the file and key."""


# How long the station keeps a tank's samples (its own storage, not a rule).
SAMPLES_KEEP_DAYS = 14.0


@dataclass(frozen=True)
class ColdchainSettings(ColdchainLimits):
    """The machine's thresholds (defaults of quality.md), and the language
    its reasons are worded in at the edge (the machine itself never words)."""

    language: str = "es"

    @property
    def history_s(self) -> float:
        """How far back the machine keeps samples for its predictions."""
        return max(self.predict_window_s, self.rise_window_s)


class ColdchainConfig(Section):
    """Tank cold chain (docs/coldchain.md); defaults of quality.md."""

    intake_tank: str | None = Field(None, pattern=IDENT_PATTERN,
                                    description="accepted deliveries are poured into this tank")
    cooling_window_min: float = Field(D.cooling_window_s / 60, gt=0)
    first_check_min: float = Field(D.first_check_s / 60, gt=0)
    first_check_max_c: float = D.first_check_max_c
    target_c: float = D.target_c
    cold_max_c: float = D.cold_max_c
    warm_break_min: float = Field(D.warm_break_s / 60, gt=0)
    sensor_silence_s: float = Field(D.sensor_silence_s, gt=0)
    blend_max_c: float | None = D.blend_max_c
    setpoint_c: float = D.setpoint_c
    predict_window_min: float = Field(D.predict_window_s / 60, gt=0)
    predict_skip_min: float = Field(D.predict_skip_s / 60, ge=0)
    predict_min_samples: int = Field(D.predict_min_samples, ge=3)
    predict_min_span_min: float = Field(D.predict_min_span_s / 60, gt=0)
    predict_confirm: int = Field(D.predict_confirm, ge=1)
    rise_window_min: float = Field(D.rise_window_s / 60, gt=0)
    rise_min_span_min: float = Field(D.rise_min_span_s / 60, gt=0)
    rise_warn_c_per_h: float = Field(D.rise_warn_c_per_h, gt=0)
    keep_days: float = Field(SAMPLES_KEEP_DAYS, gt=0, description="tank samples kept at the station")

    @model_validator(mode="after")
    def _check_inside_window(self) -> "ColdchainConfig":
        if self.first_check_min >= self.cooling_window_min:
            raise ValueError("first_check_min must be shorter than cooling_window_min")
        return self

    def settings(self, language: str = "es") -> ColdchainSettings:
        """The machine's settings (seconds) from this section (minutes)."""
        return ColdchainSettings(
            cooling_window_s=self.cooling_window_min * 60, first_check_s=self.first_check_min * 60,
            first_check_max_c=self.first_check_max_c, target_c=self.target_c,
            cold_max_c=self.cold_max_c, warm_break_s=self.warm_break_min * 60,
            sensor_silence_s=self.sensor_silence_s, blend_max_c=self.blend_max_c,
            setpoint_c=self.setpoint_c, predict_window_s=self.predict_window_min * 60,
            predict_skip_s=self.predict_skip_min * 60, predict_min_samples=self.predict_min_samples,
            predict_min_span_s=self.predict_min_span_min * 60, predict_confirm=self.predict_confirm,
            rise_window_s=self.rise_window_min * 60, rise_min_span_s=self.rise_min_span_min * 60,
            rise_warn_c_per_h=self.rise_warn_c_per_h, language=language)


# Top-level keys of a station.toml: a file with any of them is a station
# config, whose missing [coldchain] section means the defaults.
_STATION_KEYS = {"center", "station", "scale", "mqtt", "thermometers", "quality", "language"}


def load_coldchain_settings(path: str | Path | None, language: str | None = None) -> ColdchainSettings:
    """Settings for a replay: a station.toml's `[coldchain]`, or a TOML of coldchain keys.

    A station.toml without a `[coldchain]` section gives the defaults (with
    its language). Raises SettingsError naming the file and key of a bad
    value (and UserError from `load_toml` for a missing or malformed file).
    """
    if path is None:
        return ColdchainConfig().settings(language or "es")
    data = load_toml(path)
    section = data.get("coldchain")
    if section is None:
        section = {} if _STATION_KEYS & data.keys() else data
    lang = language or data.get("language") or "es"
    if lang not in LANGUAGES:
        raise SettingsError(f"{path}: language: {lang!r} is not es or en")
    try:
        return ColdchainConfig.model_validate(section).settings(lang)
    except ValidationError as exc:
        message = describe_validation_error(str(path), exc)
        if "coldchain" in data:
            message = message.replace(f"{path}: ", f"{path}: [coldchain] ", 1)
        raise SettingsError(message) from None
