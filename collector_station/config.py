"""The station's configuration schema (`station.toml`), validated at start.

Every key is documented in docs/station-config.md; `station.example.toml`
in this package is loaded by a test, so the example cannot drift.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from milk_common.config import Section, known_timezone, load_model

from .protocols import PARSERS
from .quality import FORMULAS, QualityLimits

IDENT = r"^[a-z0-9_-]{1,32}$"


class SerialPort(Section):
    """One instrument on a serial line (a USB adapter or a pseudo-terminal)."""

    port: str
    format: str
    baudrate: int = Field(9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 2] = 1
    reopen_max_s: float = Field(30.0, gt=0, description="longest wait between reopen attempts")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in PARSERS:
            raise ValueError(f"unknown format {value!r} (known: {', '.join(sorted(PARSERS))})")
        return value


class ScaleConfig(SerialPort):
    format: str = "ad"
    bytesize: Literal[5, 6, 7, 8] = 7
    parity: Literal["N", "E", "O", "M", "S"] = "E"
    empty_below_kg: Decimal = Field(Decimal("0.5"), ge=0,
                                    description="the scale counts as empty below this")
    # For indicators without a stability flag, and as a second check for
    # those with one: readings must agree within the tolerance for the window.
    stable_window_s: float = Field(1.0, ge=0)
    stable_tolerance_kg: Decimal = Field(Decimal("0.02"), ge=0)
    max_capacity_kg: Decimal = Field(Decimal("300"), gt=0)


class DensimeterConfig(SerialPort):
    format: str = "bridge"
    max_age_s: float = Field(300.0, gt=0,
                             description="a density reading older than this is not used")


class ThermometersConfig(Section):
    w1_dir: str = "/sys/bus/w1/devices"
    interval_s: float = Field(30.0, gt=0)
    batch_size: int = Field(10, ge=1, le=1000,
                            description="tank samples per MQTT message")
    tanks: dict[str, str] = Field(default_factory=dict,
                                  description="tank name -> DS18B20 id (28-...)")

    @field_validator("tanks")
    @classmethod
    def _tank_names(cls, value: dict[str, str]) -> dict[str, str]:
        import re
        for name in value:
            if not re.match(IDENT, name):
                raise ValueError(f"tank name {name!r} must match [a-z0-9_-]{{1,32}}")
        return value


class QualityConfig(Section):
    formula: str = "richmond"
    default_fat_pct: Decimal = Field(Decimal("3.5"), gt=0, lt=20)
    default_density_g_ml: Decimal = Field(Decimal("1.032"), gt=Decimal("0.9"), lt=Decimal("1.2"))
    min_solids_pct: Decimal = Decimal("11.5")
    density_min_g_ml: Decimal = Decimal("1.028")
    density_max_g_ml: Decimal = Decimal("1.033")
    freezing_point_max_c: Decimal = Decimal("-0.520")
    correction_valid_min_c: Decimal = Decimal("10")
    correction_valid_max_c: Decimal = Decimal("21")

    @field_validator("formula")
    @classmethod
    def _known_formula(cls, value: str) -> str:
        if value not in FORMULAS:
            raise ValueError(f"unknown formula {value!r} (choose {', '.join(FORMULAS)})")
        return value

    def limits(self) -> QualityLimits:
        return QualityLimits(
            default_fat_pct=self.default_fat_pct,
            default_density_g_ml=self.default_density_g_ml,
            min_solids_pct=self.min_solids_pct,
            density_min_g_ml=self.density_min_g_ml,
            density_max_g_ml=self.density_max_g_ml,
            freezing_point_max_c=self.freezing_point_max_c,
            correction_valid_min_c=self.correction_valid_min_c,
            correction_valid_max_c=self.correction_valid_max_c,
        )


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    keepalive_s: int = Field(30, ge=5)
    username: str | None = None
    password: str | None = None
    max_inflight: int = Field(100, ge=1, le=1000,
                              description="unacknowledged publishes at once")
    reconnect_max_s: float = Field(30.0, gt=0)


class StationConfig(Section):
    center: str = Field(pattern=IDENT)
    station: str = Field(pattern=IDENT)
    language: Literal["es", "en"] = "es"
    timezone: str = "America/Lima"
    data_dir: str = "/var/lib/milk-station"
    operator: str = Field("", description="operator name recorded with each delivery")
    mqtt: MqttConfig = MqttConfig()
    scale: ScaleConfig
    densimeter: DensimeterConfig | None = None
    thermometers: ThermometersConfig = ThermometersConfig()
    quality: QualityConfig = QualityConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_timezone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolve_paths(self, base: Path) -> "StationConfig":
        """Relative data_dir is taken from the config file's folder."""
        data = Path(self.data_dir)
        if not data.is_absolute():
            return self.model_copy(update={"data_dir": str((base / data).resolve())})
        return self


def load_station_config(path: str | Path) -> StationConfig:
    config = load_model(StationConfig, path)
    return config.resolve_paths(Path(path).resolve().parent)
