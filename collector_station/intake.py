"""The intake flow at the bench, as pure logic: when do a code, a stable
weight and a density reading make a delivery, and what does it contain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .devices import TimedAnalysis
from .quality import QualityLimits, assess, liters_from_weight, round_half_up

PRODUCER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def valid_producer_code(code: str) -> bool:
    return bool(PRODUCER_CODE.match(code))


@dataclass
class IntakeFlow:
    """Waits for a producer code, then a stable weight and a fresh density.

    After a delivery the scale must go back to empty before the next one, so
    the same can is never recorded twice; a density reading is used once.
    """

    densimeter: bool = True
    density_max_age_s: float = 300.0
    producer: str | None = None
    awaiting_removal: bool = False
    last_analysis_used: int = -1

    def enter_producer(self, code: str) -> None:
        self.producer = code

    def next_step(self, scale_state: str, stable_kg: Decimal | None,
                  analysis: TimedAnalysis | None, now_s: float) -> str:
        """One of: enter_code, remove_can, wait_stable, wait_density, record."""
        if self.awaiting_removal:
            if scale_state == "empty":
                self.awaiting_removal = False
            else:
                return "remove_can"
        if self.producer is None:
            return "enter_code"
        if scale_state != "stable" or stable_kg is None:
            return "wait_stable"
        if self.densimeter and not self._fresh(analysis, now_s):
            return "wait_density"
        return "record"

    def recorded(self, analysis: TimedAnalysis | None) -> None:
        self.producer = None
        self.awaiting_removal = True
        if analysis is not None:
            self.last_analysis_used = analysis.number

    def _fresh(self, analysis: TimedAnalysis | None, now_s: float) -> bool:
        return (analysis is not None and analysis.number > self.last_analysis_used
                and now_s - analysis.received_s <= self.density_max_age_s)


def _num(value: Decimal | None, places: str) -> float | None:
    return None if value is None else float(round_half_up(value, places))


def build_delivery(*, center: str, station: str, producer: str, ts: datetime,
                   weight_kg: Decimal, analysis: TimedAnalysis | None, formula: str,
                   limits: QualityLimits, operator: str = "",
                   analysis_source: str = "densimeter") -> dict:
    """The delivery/1 record (without `id` and `seq`, which the outbox assigns).

    Every value carries its source, so a figure on a statement can be traced
    back to the instrument (or the default) it came from.
    """
    if ts.tzinfo is None:
        raise ValueError("a delivery time must carry its time zone")
    reading = analysis.analysis if analysis else None
    flags: list[str] = []
    if reading is not None and reading.density_g_ml is not None:
        quality = assess(reading.density_g_ml, reading.temp_c, reading.fat_pct,
                         fat_source="analyzer" if reading.fat_pct is not None else None,
                         formula=formula, compensated=reading.compensated,
                         freezing_point_c=reading.freezing_point_c, limits=limits)
        liters, liters_density = liters_from_weight(weight_kg, quality.density_15c, limits)
        flags.extend(quality.flags)
        values = {
            "density_g_ml": _num(quality.density_g_ml, "0.00001"),
            "density_15c": _num(quality.density_15c, "0.00001"),
            "density_compensated": quality.compensated,
            "density_source": analysis_source,
            "lactometer_15c": _num(quality.lactometer_15c, "0.01"),
            "fat_pct": _num(quality.fat_pct, "0.01"),
            "fat_source": quality.fat_source,
            "formula": formula,
            "solids_pct": float(quality.solids_pct_2dp),
            "snf_pct": float(quality.snf_pct_2dp),
            "milk_temp_c": _num(reading.temp_c, "0.1"),
        }
    else:
        liters, liters_density = liters_from_weight(weight_kg, None, limits)
        flags.append("no_density")
        values = {"density_g_ml": None, "density_15c": None, "density_compensated": False,
                  "density_source": None, "lactometer_15c": None, "fat_pct": None,
                  "fat_source": None, "formula": formula, "solids_pct": None, "snf_pct": None,
                  "milk_temp_c": None}
    return {
        "center": center,
        "station": station,
        "producer": producer,
        "ts": ts.isoformat(timespec="milliseconds"),
        "weight_kg": _num(weight_kg, "0.001"),
        "weight_source": "scale",
        "liters": float(liters),
        "liters_density": liters_density,
        **values,
        "accepted": True,
        "reject_reason": None,
        "flags": flags,
        "operator": operator,
    }
