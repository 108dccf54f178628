"""The station's configuration schema (`station.toml`), validated at start.

Every key is documented in docs/station-config.md; `examples/station.toml`
is loaded by a test, so the example cannot drift.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from milk_common.integrity import parse_key
from milk_common.config import Section, Zoned, load_model
from milk_common.mqtt import MqttAccess

from collector_station.coldchain.settings import ColdchainConfig  # the [coldchain] section lives with its settings
from collector_station.clock import ClockConfig            # [clock] lives with the clock check
from collector_station.offline.settings import AlertsConfig  # [alerts]: the offline alarm
from collector_station.instruments.protocols import ANALYSIS_FORMATS, PARSERS, WEIGHT_FORMATS
from collector_station.intake.quality import FORMULAS, QualityLimits

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
    poll_interval_s: float = Field(0.2, gt=0,
                                   description="request interval for instruments that must be asked (sics)")

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
    stale_after_s: float = Field(5.0, gt=0,
                                 description="no weight for this long: the scale is not trusted")
    # Host-side calibration of the HX711 bridge (format "bridge"): raw counts
    # to kg, found by two-point weighing (the empty platform, then a known
    # weight): firmware/README.md, step 4 of the assembly.
    counts_per_kg: Decimal = Field(Decimal("21000"), description="HX711 counts per kg")
    offset_counts: int = Field(0, description="HX711 reading of the empty platform")
    resolution_kg: Decimal = Field(Decimal("0.01"), gt=0)
    # The tolerance of calibration and the weekly check (OIML R76 maximum
    # permissible error; docs/calibration.md): the accuracy class and the
    # verification interval e (None: resolution_kg).
    accuracy_class: Literal["II", "III", "IIII"] = "III"
    verification_interval_kg: Decimal | None = Field(None, gt=0)
    test_weight_kg: Decimal = Field(Decimal("20"), gt=0,
                                    description="the weekly check's test weight (kg)")
    check_every_days: int = Field(7, ge=1, le=365,
                                  description="days before the weekly check is due again")

    @property
    def interval_kg(self) -> Decimal:
        """The verification interval e the tolerances are counted in."""
        return self.verification_interval_kg or self.resolution_kg

    @field_validator("format")
    @classmethod
    def _weighs(cls, value: str) -> str:
        if value in PARSERS and value not in WEIGHT_FORMATS:
            raise ValueError(f"{value!r} gives no weights (scale formats: {', '.join(WEIGHT_FORMATS)})")
        return value

    @field_validator("counts_per_kg")
    @classmethod
    def _nonzero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("must not be 0")
        return value


class DensimeterConfig(SerialPort):
    format: str = "bridge"
    max_age_s: float = Field(300.0, gt=0,
                             description="a density reading older than this is not used")

    @field_validator("format")
    @classmethod
    def _analyses(cls, value: str) -> str:
        if value in PARSERS and value not in ANALYSIS_FORMATS:
            raise ValueError(f"{value!r} gives no density (formats: {', '.join(ANALYSIS_FORMATS)})")
        return value


class ThermometersConfig(Section):
    w1_dir: str = "/sys/bus/w1/devices"
    interval_s: float = Field(30.0, gt=0)
    batch_size: int = Field(10, ge=1, le=1000,
                            description="tank samples per MQTT message")
    tanks: dict[str, str | list[str]] = Field(
        default_factory=dict, description="tank name -> DS18B20 id (28-...) or a list of ids")
    stale_after_s: float = Field(1800.0, ge=0,
                                 description="the very same reading this long is stale (0: never)")

    @field_validator("tanks")
    @classmethod
    def _tank_names(cls, value: dict[str, str]) -> dict[str, str]:
        import re
        for name in value:
            if not re.match(IDENT, name):
                raise ValueError(f"tank name {name!r} must match [a-z0-9_-]{{1,32}}")
        return value


_DEFAULT = QualityLimits()     # the association defaults, written once (intake/quality.py)


class QualityConfig(Section):
    formula: str = "richmond"
    default_fat_pct: Decimal = Field(_DEFAULT.default_fat_pct, gt=0, lt=20)
    default_density_g_ml: Decimal = Field(_DEFAULT.default_density_g_ml, gt=Decimal("0.9"), lt=Decimal("1.2"))
    min_solids_pct: Decimal = _DEFAULT.min_solids_pct
    density_min_g_ml: Decimal = _DEFAULT.density_min_g_ml
    density_max_g_ml: Decimal = _DEFAULT.density_max_g_ml
    freezing_point_max_c: Decimal = _DEFAULT.freezing_point_max_c
    correction_valid_min_c: Decimal = _DEFAULT.correction_valid_min_c
    correction_valid_max_c: Decimal = _DEFAULT.correction_valid_max_c

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


class MqttConfig(MqttAccess):
    """Broker address and access: username `{center}.{station}`, password or
    password_file, tls_ca (milk_common/mqtt.py, docs/security.md)."""

    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    keepalive_s: int = Field(30, ge=5)
    max_inflight: int = Field(100, ge=1, le=1000,
                              description="unacknowledged publishes at once")
    reconnect_max_s: float = Field(30.0, gt=0)


TestPolicy = Literal["required", "optional", "off"]


class AcceptanceConfig(Section):
    """Reception rules (quality.md "Reception tests and acceptance")."""

    alcohol_test: TestPolicy = "required"
    organoleptic: TestPolicy = "optional"
    confirm: bool = Field(True, description="the operator accepts or rejects after seeing the quality")
    acidity_max_dornic: Decimal | None = Field(None, gt=0, lt=100,
                                               description="titratable acidity cut-off (°D); none by default")
    reject_below_solids_pct: Decimal | None = Field(None, gt=0, lt=100,
                                                    description="hard solids floor; none by default")


class RegistryConfig(Section):
    require_known: bool = Field(True, description="refuse producer codes not in the registry")
    lab_fat_valid_days: int = Field(15, ge=0, le=365)


class IntegrityConfig(Section):
    """The HMAC key that signs the delivery chain (hex, or text of 16+ characters).

    Neither key nor file: a key is generated at first start in
    data_dir/station.key; give the same key to the hub.
    """

    hmac_key: str | None = None
    hmac_key_file: str | None = None

    @field_validator("hmac_key")
    @classmethod
    def _key_ok(cls, value: str | None) -> str | None:
        if value is not None:
            parse_key(value)
        return value


class ShiftsConfig(Section):
    """Shift start times (local, HH:MM); a shift runs until the next one starts."""

    starts: dict[str, str] = Field(default_factory=lambda: {"manana": "00:00", "tarde": "12:00"})

    @field_validator("starts")
    @classmethod
    def _times(cls, value: dict[str, str]) -> dict[str, str]:
        import re
        if not value:
            raise ValueError("at least one shift")
        for name, start in value.items():
            if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", start):
                raise ValueError(f"shift {name!r}: start {start!r} is not HH:MM")
        if len(set(value.values())) != len(value):
            raise ValueError("two shifts start at the same time")
        return value


class PanelConfig(Section):
    """The bench's buttons, LEDs, buzzer and relay (BCM GPIO numbers; 0 or
    absent: not fitted). Defaults match hardware/README.md's pin table."""

    accept_pin: int | None = Field(5, ge=0, le=27)
    reject_pin: int | None = Field(6, ge=0, le=27)
    tare_pin: int | None = Field(13, ge=0, le=27)
    alcohol_pass_pin: int | None = Field(19, ge=0, le=27)
    alcohol_fail_pin: int | None = Field(26, ge=0, le=27)
    green_led_pin: int | None = Field(20, ge=0, le=27)
    red_led_pin: int | None = Field(21, ge=0, le=27)
    buzzer_pin: int | None = Field(12, ge=0, le=27)
    relay_pin: int | None = Field(None, ge=0, le=27)
    relay_active_high: bool = True
    bounce_s: float = Field(0.05, ge=0, le=1, description="button debounce")
    hold_s: float = Field(0.0, ge=0, le=10,
                          description="reject must be held this long (0: a press)")
    led_on_s: float = Field(3.0, gt=0, description="green/red LED lit after a decision")

    @field_validator("accept_pin", "reject_pin", "tare_pin", "alcohol_pass_pin",
                     "alcohol_fail_pin", "green_led_pin", "red_led_pin", "buzzer_pin", "relay_pin")
    @classmethod
    def _pin(cls, value: int | None) -> int | None:
        # GPIO 0 and 1 are the HAT EEPROM bus, 4 the 1-Wire bus: never a button.
        if value in (1, 4):
            raise ValueError(f"GPIO{value} is reserved (1: HAT EEPROM, 4: 1-Wire)")
        return value or None


class ConsoleConfig(Section):
    """The operator's console served by `collector-station run` (docs/console.md)."""

    enabled: bool = Field(True, description="serve the console (false: keypad on standard input only)")
    bind: str = Field("127.0.0.1", description="address to listen on; the kiosk browser is on the Pi itself")
    port: int = Field(8080, ge=0, lt=65536, description="0: any free port")
    # Spoken feedback for operators who cannot read well (collector_station/speech.py):
    # off unless asked, since a bench without a speaker or espeak-ng gains nothing.
    speech: bool = Field(False, description="say each result aloud in Spanish (espeak-ng)")
    speech_voice: str = Field("es-419", description="espeak-ng voice (es: Spain, es-419: Latin America)")


class PrinterConfig(Section):
    """The receipt printer (ESC/POS, python-escpos)."""

    kind: Literal["serial", "usb", "file", "console", "none"] = "none"
    port: str = Field("/dev/milk-printer", description="serial port, or file path for kind=file")
    baudrate: int = Field(9600, gt=0)
    usb_vendor_id: int = Field(0x0416, ge=0, le=0xFFFF)
    usb_product_id: int = Field(0x5011, ge=0, le=0xFFFF)
    width_chars: int = Field(32, ge=16, le=64, description="32 for 58 mm paper, 48 for 80 mm")
    profile: str | None = Field(None, description="python-escpos printer profile name")


class StationConfig(Zoned):
    center: str = Field(pattern=IDENT)
    station: str = Field(pattern=IDENT)
    language: Literal["es", "en"] = "es"
    data_dir: str = "/var/lib/milk-station"
    operator: str = Field("", description="operator name recorded with each delivery")
    mqtt: MqttConfig = MqttConfig()
    scale: ScaleConfig
    densimeter: DensimeterConfig     # total solids need a density reading
    thermometers: ThermometersConfig = ThermometersConfig()
    quality: QualityConfig = QualityConfig()
    coldchain: ColdchainConfig = ColdchainConfig()
    acceptance: AcceptanceConfig = AcceptanceConfig()
    registry: RegistryConfig = RegistryConfig()
    integrity: IntegrityConfig = IntegrityConfig()
    shifts: ShiftsConfig = ShiftsConfig()
    panel: PanelConfig | None = None          # absent: no GPIO panel (keyboard only)
    printer: PrinterConfig = PrinterConfig()
    clock: ClockConfig = ClockConfig()
    alerts: AlertsConfig = AlertsConfig()
    console: ConsoleConfig = ConsoleConfig()


    def resolve_paths(self, base: Path) -> "StationConfig":
        """Relative data_dir is taken from the config file's folder."""
        data = Path(self.data_dir)
        if not data.is_absolute():
            return self.model_copy(update={"data_dir": str((base / data).resolve())})
        return self


def load_station_config(path: str | Path) -> StationConfig:
    config = load_model(StationConfig, path)
    return config.resolve_paths(Path(path).resolve().parent)
