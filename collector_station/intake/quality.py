"""Milk quality at the intake bench: density, lactometer degrees, solids, flags.

A pure module (no I/O). Formulas and defaults come from
docs/quality.md; every threshold is a default the station config can
change (`[quality]`). Arithmetic is decimal so that a figure printed on the
receipt with two decimals is the same figure the fortnight payment rounds
(11.445 must stay 11.445, not 11.444999...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, asdict
from decimal import Decimal, ROUND_HALF_UP
from typing import Iterable

FORMULAS = ("richmond", "fleischmann", "bis")
FAT_SOURCES = ("analyzer", "lab", "default")

_TWO = Decimal("0.01")
_THOUSANDTH = Decimal("0.001")


def dec(value: object) -> Decimal:
    """A Decimal from an int, str, Decimal or float (through its shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def round_half_up(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QualityLimits:
    """Association defaults from quality.md; each one is a station setting."""

    correction_per_c: Decimal = Decimal("0.0002")   # g/mL per °C around 15 °C
    reference_temp_c: Decimal = Decimal("15")
    correction_valid_min_c: Decimal = Decimal("10")
    correction_valid_max_c: Decimal = Decimal("21")
    density_min_g_ml: Decimal = Decimal("1.028")      # below: added water suspected
    density_max_g_ml: Decimal = Decimal("1.033")      # above: skimming suspected
    freezing_point_max_c: Decimal = Decimal("-0.520")  # warmer: added water suspected
    min_solids_pct: Decimal = Decimal("11.5")          # buyer's minimum
    default_fat_pct: Decimal = Decimal("3.5")
    default_density_g_ml: Decimal = Decimal("1.032")


def density_at_15c(density_g_ml: Decimal, temp_c: Decimal,
                   limits: QualityLimits = QualityLimits()) -> Decimal:
    """Density corrected to the 15 °C reference: rho15 = rhoT + 0.0002·(T − 15)."""
    return dec(density_g_ml) + limits.correction_per_c * (dec(temp_c) - limits.reference_temp_c)


def lactometer_degrees(density_g_ml: Decimal) -> Decimal:
    """Quevenne lactometer degrees: L = (rho − 1)·1000."""
    return (dec(density_g_ml) - 1) * 1000


def total_solids_pct(formula: str, fat_pct: Decimal, density_15c: Decimal) -> Decimal:
    """Total solids (%) by the named formula, full precision."""
    fat = dec(fat_pct)
    rho15 = dec(density_15c)
    lacto = lactometer_degrees(rho15)
    if formula == "richmond":
        return lacto / 4 + Decimal("1.2") * fat + Decimal("0.14")
    if formula == "fleischmann":
        return Decimal("1.2") * fat + Decimal("2.665") * (100 * rho15 - 100) / rho15
    if formula == "bis":
        return Decimal("0.25") * lacto + Decimal("1.22") * fat + Decimal("0.72")
    raise ValueError(f"unknown solids formula {formula!r} (choose {', '.join(FORMULAS)})")


@dataclass(frozen=True)
class Assessment:
    """Quality of one reading, with every input it was computed from."""

    density_g_ml: Decimal
    temp_c: Decimal | None
    density_15c: Decimal
    lactometer_15c: Decimal
    fat_pct: Decimal
    fat_source: str
    formula: str
    solids_pct: Decimal          # full precision
    snf_pct: Decimal             # full precision
    compensated: bool
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def solids_pct_2dp(self) -> Decimal:
        """TS as printed on the receipt and priced (half-up, two decimals)."""
        return round_half_up(self.solids_pct)

    @property
    def snf_pct_2dp(self) -> Decimal:
        return round_half_up(self.snf_pct)

    def to_json(self) -> dict:
        """The `assess --json` object: numbers as JSON numbers, rounded for display."""
        out = asdict(self)
        out["density_g_ml"] = float(self.density_g_ml)
        out["temp_c"] = None if self.temp_c is None else float(self.temp_c)
        out["density_15c"] = float(round_half_up(self.density_15c, "0.00001"))
        out["lactometer_15c"] = float(round_half_up(self.lactometer_15c, "0.01"))
        out["fat_pct"] = float(self.fat_pct)
        out["solids_pct"] = float(self.solids_pct_2dp)
        out["snf_pct"] = float(self.snf_pct_2dp)
        out["flags"] = list(self.flags)
        return out


def assess(density_g_ml: object, temp_c: object | None, fat_pct: object | None = None,
           *, fat_source: str | None = None, formula: str = "richmond",
           compensated: bool = False, freezing_point_c: object | None = None,
           limits: QualityLimits = QualityLimits()) -> Assessment:
    """Assess one density reading.

    `compensated` says the instrument already reports density at 15 °C, so no
    correction is applied twice. Without a fat figure the center default is
    used (`fat_source` = "default"). Flags are suspicions, not verdicts:
    skimming plus watering can cancel out in the density.
    """
    if formula not in FORMULAS:
        raise ValueError(f"unknown solids formula {formula!r} (choose {', '.join(FORMULAS)})")
    rho = dec(density_g_ml)
    temp = None if temp_c is None else dec(temp_c)
    flags: list[str] = []
    if compensated or temp is None:
        rho15 = rho
    else:
        rho15 = density_at_15c(rho, temp, limits)
        if not (limits.correction_valid_min_c <= temp <= limits.correction_valid_max_c):
            # Warm milk straight from milking is common; compute, but say so.
            flags.append("density_temp_outside_range")
    if fat_pct is None:
        fat, source = limits.default_fat_pct, "default"
    else:
        fat, source = dec(fat_pct), fat_source or "analyzer"
    if source not in FAT_SOURCES:
        raise ValueError(f"unknown fat source {source!r}")
    solids = total_solids_pct(formula, fat, rho15)
    if rho15 < limits.density_min_g_ml:
        flags.append("added_water_suspect")
    elif rho15 > limits.density_max_g_ml:
        flags.append("skim_suspect")
    if freezing_point_c is not None and dec(freezing_point_c) > limits.freezing_point_max_c:
        flags.append("freezing_point_water_suspect")
    if round_half_up(solids) < limits.min_solids_pct:
        flags.append("below_min_solids")
    return Assessment(
        density_g_ml=rho, temp_c=temp, density_15c=rho15,
        lactometer_15c=lactometer_degrees(rho15), fat_pct=fat, fat_source=source,
        formula=formula, solids_pct=solids, snf_pct=solids - fat,
        compensated=compensated, flags=tuple(flags),
    )


def liters_from_weight(weight_kg: object, density_15c: object | None,
                       limits: QualityLimits = QualityLimits()) -> tuple[Decimal, str]:
    """Litres from kilograms, to the millilitre, and which density was used.

    Returns (litres, "measured" | "default").
    """
    if density_15c is None:
        rho, used = limits.default_density_g_ml, "default"
    else:
        rho, used = dec(density_15c), "measured"
    return round_half_up(dec(weight_kg) / rho, "0.001"), used


def flags_text(flags: Iterable[str], lang: str = "es") -> list[str]:
    """Operator-facing words for the flags."""
    return [FLAG_TEXT.get(lang, FLAG_TEXT["es"]).get(f, f) for f in flags]


FLAG_TEXT = {
    "es": {
        "density_temp_outside_range": "temperatura fuera del rango de corrección (10–21 °C)",
        "added_water_suspect": "densidad baja: posible agua añadida",
        "skim_suspect": "densidad alta: posible descremado",
        "freezing_point_water_suspect": "punto de congelación alto: posible agua añadida",
        "below_min_solids": "sólidos totales bajo el mínimo",
        "no_density": "sin lectura de densidad: litros con la densidad por defecto",
    },
    "en": {
        "density_temp_outside_range": "temperature outside the correction range (10–21 °C)",
        "added_water_suspect": "low density: added water suspected",
        "skim_suspect": "high density: skimming suspected",
        "freezing_point_water_suspect": "high freezing point: added water suspected",
        "below_min_solids": "total solids below the minimum",
        "no_density": "no density reading: litres from the default density",
    },
}
