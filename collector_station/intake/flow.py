"""The intake flow at the bench, as pure logic: when do a producer code, the
reception tests, a stable weight and a density reading make a delivery,
accepted or rejected, and what the record contains."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from collector_station.instruments.protocols import TimedAnalysis
from collector_station.intake.quality import Assessment, QualityLimits, assess, liters_from_weight, round_half_up


@dataclass(frozen=True)
class AcceptanceRules:
    alcohol_test: str = "required"       # required | optional | off
    organoleptic: str = "optional"
    confirm: bool = True                  # operator accepts after seeing the quality
    acidity_max_dornic: Decimal | None = None
    reject_below_solids_pct: Decimal | None = None


@dataclass(frozen=True)
class Confirmation:
    """The weight and analysis the operator is deciding on, frozen.

    ACCEPT records exactly these, whatever the scale shows meanwhile:
    lifting the can keeps them; only a different stable weight or a new
    analysis replaces them (a new `number`, `replaced` True), and the
    decision already given is then dropped, so the operator sees the new
    values before ACCEPT can record them.
    """

    number: int                          # counts confirmations: the screen names the one it shows
    weight_kg: Decimal
    analysis: TimedAnalysis | None
    quality: Assessment | None = None
    replaced: bool = False


# The reasons an operator may give to REJECT (the console's reason buttons):
# the contract's reject reasons that are the operator's call.
OPERATOR_REJECT_REASONS = ("alcohol_positive", "organoleptic_fail", "acidity_high", "operator_reject")


def match_producer_number(typed: str, codes) -> str | None:
    """The code a bare number stands for (`7` or `007` -> `p007`) when exactly
    one of `codes` carries that number; None otherwise. Producers are known
    by their number at the bench, and a touch pad has only digits."""
    if not typed.isdigit():
        return None
    number = int(typed)
    found = [c for c in codes
             if (digits := "".join(ch for ch in c if ch.isdigit())) and int(digits) == number]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Step:
    """What the bench waits for next, or `record` with the verdict."""

    name: str    # enter_code | remove_can | wait_stable | wait_density | wait_tests | wait_decision | record
    accepted: bool = True
    reason: str | None = None
    missing: tuple[str, ...] = ()
    confirmation: Confirmation | None = None   # wait_decision, and a record made from it


@dataclass
class IntakeFlow:
    """Waits for a producer code, the reception tests, a stable weight and a
    fresh density; then records, or rejects as soon as a rule says so.

    After a delivery weighed on the scale, the scale must go back to empty
    before the next one, so the same can is never recorded twice; a density
    reading is used once.
    """

    densimeter: bool = True
    density_max_age_s: float = 300.0
    rules: AcceptanceRules = field(default_factory=AcceptanceRules)
    producer: str | None = None
    awaiting_removal: bool = False
    last_analysis_used: int = -1
    alcohol_ok: bool | None = None
    organoleptic_ok: bool | None = None
    acidity_dornic: Decimal | None = None
    decision: str | None = None          # None | "accept" | "reject"
    note: str = ""
    reject_reason: str = "operator_reject"
    empties_at_record: int = 0           # the scale's empty count when the last can was recorded
    # Two stable weights closer than this are the same can (the scale's own
    # stability tolerance): the confirmation is not replaced for drift.
    weight_tolerance_kg: Decimal = Decimal("0.02")
    confirmation: Confirmation | None = None
    confirmations: int = 0

    def enter_producer(self, code: str) -> None:
        self.producer = code
        self.alcohol_ok = self.organoleptic_ok = self.acidity_dornic = None
        self.decision, self.note = None, ""
        self.confirmation = None

    def record_test(self, test: str, value: bool | Decimal) -> None:
        if test == "alcohol":
            self.alcohol_ok = bool(value)
        elif test == "organoleptic":
            self.organoleptic_ok = bool(value)
        elif test == "acidity":
            self.acidity_dornic = Decimal(value)
        else:
            raise ValueError(f"unknown test {test!r}")

    def decide(self, accept: bool, note: str = "", confirmation: int | None = None,
               reason: str | None = None) -> bool:
        """ACCEPT or REJECT. An ACCEPT before any values were shown for it is
        refused (False), as is one naming (`number`, from a face that shows
        it) a confirmation that is no longer current: the operator accepts
        what was shown, never values still to come."""
        if accept and self.rules.confirm and (self.confirmation is None or (
                confirmation is not None and self.confirmation.number != confirmation)):
            return False
        if not accept and reason is not None and reason not in OPERATOR_REJECT_REASONS:
            return False
        self.decision, self.note = ("accept" if accept else "reject"), note
        # REJECT names its reason (the console's reason buttons); plain REJECT is the operator's call.
        self.reject_reason = reason or "operator_reject"
        return True

    def _rule_rejection(self) -> str | None:
        if self.decision == "reject":
            return self.reject_reason
        if self.alcohol_ok is False and self.rules.alcohol_test != "off":
            return "alcohol_positive"
        if self.organoleptic_ok is False and self.rules.organoleptic != "off":
            return "organoleptic_fail"
        if (self.rules.acidity_max_dornic is not None and self.acidity_dornic is not None
                and self.acidity_dornic > self.rules.acidity_max_dornic):
            return "acidity_high"
        return None

    def missing_tests(self) -> tuple[str, ...]:
        missing = []
        if self.rules.alcohol_test == "required" and self.alcohol_ok is None:
            missing.append("alcohol")
        if self.rules.organoleptic == "required" and self.organoleptic_ok is None:
            missing.append("organoleptic")
        return tuple(missing)

    def next_step(self, scale_state: str, stable_kg: Decimal | None,
                  analysis: TimedAnalysis | None, now_s: float,
                  quality: Assessment | None = None, empties: int | None = None) -> Step:
        """`empties` counts the scale's returns to empty: a quick operator may
        take one can off and put the next on between two steps."""
        if self.awaiting_removal:
            if scale_state == "empty" or (empties is not None and empties > self.empties_at_record):
                self.awaiting_removal = False
            else:
                return Step("remove_can")
        if self.producer is None:
            return Step("enter_code")
        frozen = self.confirmation
        replaced = frozen is not None and self._outdated(frozen, scale_state, stable_kg, analysis, now_s)
        if replaced:
            self.confirmation = None
            if self.decision == "accept":
                self.decision = None
            # The new values replace only what changed: a new analysis while
            # the can is off keeps the weight shown, a new weight the analysis.
            if scale_state != "stable" or stable_kg is None:
                scale_state, stable_kg = "stable", frozen.weight_kg
            if not self._newer(frozen, analysis, now_s):
                analysis = frozen.analysis
        reason = self._rule_rejection()
        if reason:
            # Rejected milk is recorded too, weighed when a can is on the scale.
            return Step("record", accepted=False, reason=reason, confirmation=self.confirmation)
        if self.confirmation is not None:
            # Frozen: the can may be lifted, the record keeps what was shown.
            if self.decision == "accept":
                return Step("record", accepted=True, confirmation=self.confirmation)
            return Step("wait_decision", confirmation=self.confirmation)
        if scale_state != "stable" or stable_kg is None:
            return Step("wait_stable")
        if self.densimeter and not self.fresh(analysis, now_s):
            return Step("wait_density")
        floor = self.rules.reject_below_solids_pct
        if floor is not None and quality is not None and quality.solids_pct_2dp < floor:
            return Step("record", accepted=False, reason="solids_below_floor")
        missing = self.missing_tests()
        if missing:
            return Step("wait_tests", missing=missing)
        if self.rules.confirm:
            self.confirmations += 1
            self.confirmation = Confirmation(self.confirmations, stable_kg,
                                             analysis if self.densimeter else None, quality,
                                             replaced=replaced)
            return Step("wait_decision", confirmation=self.confirmation)
        return Step("record", accepted=True)

    def _outdated(self, frozen: Confirmation, scale_state: str, stable_kg: Decimal | None,
                  analysis: TimedAnalysis | None, now_s: float) -> bool:
        """A different stable weight or a newer analysis than the frozen ones."""
        if scale_state == "stable" and stable_kg is not None \
                and abs(stable_kg - frozen.weight_kg) > self.weight_tolerance_kg:
            return True
        return self._newer(frozen, analysis, now_s)

    def _newer(self, frozen: Confirmation, analysis: TimedAnalysis | None, now_s: float) -> bool:
        return (self.densimeter and analysis is not None and frozen.analysis is not None
                and analysis.number != frozen.analysis.number and self.fresh(analysis, now_s))

    def recorded(self, analysis: TimedAnalysis | None, weighed: bool, empties: int = 0) -> None:
        self.producer = None
        self.empties_at_record = empties
        self.decision, self.note = None, ""
        self.confirmation = None
        self.awaiting_removal = weighed
        if analysis is not None:
            self.last_analysis_used = analysis.number

    def fresh(self, analysis: TimedAnalysis | None, now_s: float) -> bool:
        return (analysis is not None and analysis.number > self.last_analysis_used
                and now_s - analysis.received_s <= self.density_max_age_s)


def _num(value: Decimal | None, places: str) -> float | None:
    return None if value is None else float(round_half_up(value, places))


def assess_reading(analysis: TimedAnalysis | None, formula: str, limits: QualityLimits,
                   lab_fat_pct: Decimal | None = None) -> Assessment | None:
    """Quality of a reading with the fat source chain: analyzer, lab, default."""
    reading = analysis.analysis if analysis else None
    if reading is None or reading.density_g_ml is None:
        return None
    if reading.fat_pct is not None:
        fat, source = reading.fat_pct, "analyzer"
    elif lab_fat_pct is not None:
        fat, source = lab_fat_pct, "lab"
    else:
        fat, source = None, None
    return assess(reading.density_g_ml, reading.temp_c, fat, fat_source=source, formula=formula,
                  compensated=reading.compensated, freezing_point_c=reading.freezing_point_c,
                  limits=limits)


def build_delivery(*, center: str, station: str, producer: str, ts: datetime,
                   weight_kg: Decimal | None, analysis: TimedAnalysis | None, formula: str,
                   limits: QualityLimits, operator: str = "",
                   analysis_source: str = "densimeter", accepted: bool = True,
                   reject_reason: str | None = None, lab_fat_pct: Decimal | None = None,
                   tests: dict | None = None, note: str = "") -> dict:
    """The delivery/1 record (without `id`, `seq` and the seal, which the outbox adds).

    Every value carries its source, so a figure on a statement can be traced
    back to the instrument (or the default) it came from. A rejected
    delivery has no weight when the can was turned away before weighing.
    """
    if ts.tzinfo is None:
        raise ValueError("a delivery time must carry its time zone")
    quality = assess_reading(analysis, formula, limits, lab_fat_pct)
    reading = analysis.analysis if analysis else None
    flags: list[str] = []
    if quality is not None:
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
        values = {"density_g_ml": None, "density_15c": None, "density_compensated": False,
                  "density_source": None, "lactometer_15c": None, "fat_pct": None,
                  "fat_source": None, "formula": formula, "solids_pct": None, "snf_pct": None,
                  "milk_temp_c": None}
    if weight_kg is not None:
        liters, liters_density = liters_from_weight(
            weight_kg, quality.density_15c if quality else None, limits)
        if quality is None:
            flags.append("no_density")
    else:
        liters, liters_density = Decimal(0), None
    tests = tests or {}
    return {
        "center": center,
        "station": station,
        "producer": producer,
        "ts": ts.isoformat(timespec="milliseconds"),
        "weight_kg": _num(weight_kg, "0.001"),
        "weight_source": "scale" if weight_kg is not None else None,
        "liters": float(liters),
        "liters_density": liters_density,
        **values,
        "alcohol_test": tests.get("alcohol"),
        "organoleptic": tests.get("organoleptic"),
        "acidity_dornic": _num(tests.get("acidity"), "0.1"),
        "accepted": accepted,
        "reject_reason": reject_reason,
        "note": note,
        "flags": flags,
        "operator": operator,
    }
