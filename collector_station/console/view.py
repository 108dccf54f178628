"""What the console shows, from plain values: pure functions, no I/O.

Numbers are written with `.` as the decimal mark and no unit (the page puts
the unit beside them), `-` when there is none, so a script reading an
element gets the value ACCEPT records. Every word comes from the `console`
gettext domain (Spanish first).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from collector_station.intake.flow import OPERATOR_REJECT_REASONS  # noqa: F401  (the page's reason buttons)
from milk_common.i18n import has_text, translate

DOMAIN = "console"
NONE = "-"

# Flags that say the milk may be adulterated (red), and the others (amber).
BAD_FLAGS = frozenset({"added_water_suspect", "skim_suspect", "freezing_point_water_suspect"})
# Scale states in which nothing can be recorded and the operator must act.
SCALE_FAULTS = frozenset({"fault", "disconnected", "no_data"})


def t(lang: str | None, key: str, **values: object) -> str:
    return translate(DOMAIN, key, lang, **values)


def words(lang: str | None, key: str, fallback: str = "") -> str:
    """A text when the catalog has the key, else `fallback` (codes from newer parts)."""
    return translate(DOMAIN, key, lang) if has_text(DOMAIN, key) else fallback


def num(value: object, min_places: int = 2, max_places: int = 3) -> str:
    """`20.625` -> "20.625", `20.6` -> "20.60", None -> "-": every digit the
    record carries (up to `max_places`), at least `min_places`."""
    if value is None:
        return NONE
    text = f"{Decimal(repr(value) if isinstance(value, float) else str(value)):.{max_places}f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(min_places, "0")
    return f"{whole}.{frac}" if frac else whole


def weight_view(lang: str | None, state: str, value_kg: Decimal | None,
                fault_reason: str | None = None) -> dict:
    """The live weight: `kg` (2 decimals, or "-"), `stable`, the state in words."""
    shown = None if state in SCALE_FAULTS or value_kg is None else value_kg
    if state == "fault" and fault_reason:
        said = t(lang, "scale.fault_reason", reason=words(lang, f"scale_fault.{fault_reason}", fault_reason))
    else:
        said = words(lang, f"scale.{state}", state)
    return {"kg": NONE if shown is None else f"{Decimal(shown):.2f}", "stable": state == "stable",
            "state": state, "words": said, "fault": state in SCALE_FAULTS}


def quality_level(solids_pct: float | None, flags: list[str], min_solids_pct: Decimal) -> str:
    """good (green), warn (amber) or bad (red) for the colour of the result."""
    if any(f in BAD_FLAGS for f in flags):
        return "bad"
    if solids_pct is None:
        return "warn"
    if Decimal(repr(solids_pct)) < min_solids_pct:
        return "bad"
    return "warn" if flags else "good"


def flag_views(lang: str | None, flags: list[str]) -> list[dict]:
    return [{"code": f, "words": words(lang, f"flag.{f}", f), "level": "bad" if f in BAD_FLAGS else "warn"}
            for f in flags]


def confirmation_view(lang: str | None, preview: dict | None, min_solids_pct: Decimal) -> dict | None:
    """The frozen values ACCEPT will record (a preview record from the station)."""
    if preview is None:
        return None
    flags = list(preview.get("flags") or [])
    fat_source = preview.get("fat_source")
    return {
        "number": preview.get("number"),
        "replaced": bool(preview.get("replaced")),
        "weight_kg": num(preview.get("weight_kg")),
        "liters": num(preview.get("liters")),
        "solids": num(preview.get("solids_pct"), 2, 2),
        "snf": num(preview.get("snf_pct"), 2, 2),
        "density_15c": num(preview.get("density_15c"), 4, 5),
        "temp_c": num(preview.get("milk_temp_c"), 1, 1),
        "fat": num(preview.get("fat_pct"), 2, 2),
        "fat_source": words(lang, f"fat_source.{fat_source}", "") if fat_source else "",
        "flags": flag_views(lang, flags),
        "level": quality_level(preview.get("solids_pct"), flags, min_solids_pct),
        "min_solids": num(min_solids_pct, 1, 2),
    }


def test_view(lang: str | None, policy: str, value: bool | None) -> dict:
    return {"policy": policy, "shown": policy != "off",
            "value": None if value is None else ("pass" if value else "fail")}


def verdict_words(lang: str | None, record: dict) -> str:
    """One word for what a record is: aceptada, rechazada, anulación, corrección."""
    kind = record.get("kind", "delivery")
    if kind in ("void", "correction"):
        return t(lang, f"row.{kind}")
    return t(lang, "row.accepted") if record.get("accepted") else t(lang, "row.rejected_plain")


def record_words(lang: str | None, record: dict, reason_words: str) -> str:
    """The verdict with the reason of a rejection (the operator's own REJECT says no more)."""
    if record.get("kind", "delivery") == "delivery" and not record.get("accepted") \
            and record.get("reject_reason") not in (None, "operator_reject"):
        return t(lang, "row.rejected", reason=reason_words)
    return verdict_words(lang, record)


def last_view(lang: str | None, record: dict | None, name: str, reason_words: str,
              refers_seq: int | None = None) -> dict | None:
    """The last recorded delivery: verdict, receipt code, what was recorded."""
    if record is None:
        return None
    return {
        "seq": record["seq"], "producer": record["producer"], "name": name or NONE,
        "state": "accepted" if record.get("accepted") else "rejected",
        "kind": record.get("kind", "delivery"),
        "words": record_words(lang, record, reason_words),
        "verdict": verdict_words(lang, record),
        "reason": reason_words if record.get("kind", "delivery") == "delivery" and not record.get("accepted")
        and record.get("reject_reason") != "operator_reject" else "",
        "receipt_code": record.get("receipt_code") or NONE,
        "weight_kg": num(record.get("weight_kg")), "liters": num(record.get("liters")),
        "solids": num(record.get("solids_pct"), 2, 2),
        "refers_seq": refers_seq,
    }


def row_view(lang: str | None, record: dict, name: str, reason_words: str, zone,
             voided: bool, refers_seq: int | None) -> dict:
    """One line of the recent deliveries list."""
    ts = datetime.fromisoformat(record["ts"]).astimezone(zone)
    kind = record.get("kind", "delivery")
    return {"seq": record["seq"], "time": ts.strftime("%H:%M"), "producer": record["producer"],
            "name": name or "", "liters": num(record.get("liters")),
            "solids": num(record.get("solids_pct"), 2, 2),
            "state": "voided" if voided else kind if kind != "delivery" else
            ("accepted" if record.get("accepted") else "rejected"),
            "words": t(lang, "row.voided") if voided else record_words(lang, record, reason_words),
            "refers_seq": refers_seq,
            "voidable": kind != "void" and not voided}


# The link tile's three cases: the hub is alive; the broker answers but no
# hub says it is online (stopped, crashed: deliveries wait at the broker and
# nobody stores them); the broker itself is out of reach.
LINK_STATES = ("online", "hub-down", "offline")


def link_state(broker_connected: bool, hub_reachable: bool) -> str:
    if not broker_connected:
        return "offline"
    return "online" if hub_reachable else "hub-down"


def link_view(lang: str | None, state: str, unsent_deliveries: int) -> dict:
    """The link tile: `state` is one of LINK_STATES (`link_state`)."""
    if state == "online":
        said = t(lang, "link.online") if unsent_deliveries == 0 else \
            t(lang, "link.sending", count=unsent_deliveries)
    else:
        prefix = "link.offline" if state == "offline" else "link.hub_down"
        if unsent_deliveries == 0:
            said = t(lang, f"{prefix}_none")
        elif unsent_deliveries == 1:
            said = t(lang, f"{prefix}_one")
        else:
            said = t(lang, prefix, count=unsent_deliveries)
    return {"state": state, "outbox": unsent_deliveries, "words": said}


def tank_view(lang: str | None, tank: str, state: str, temp_c: float | None) -> dict:
    return {"tank": tank, "state": state, "temp_c": num(temp_c, 1, 1),
            "words": words(lang, f"tank.{state}", state)}


def instrument_view(lang: str | None, device: str, connected: bool, detail: str = "") -> dict:
    name = words(lang, f"device.{device}", device)
    said = t(lang, "device.connected" if connected else "device.disconnected", device=name)
    return {"device": device, "state": "ok" if connected else "fault",
            "words": f"{said}{(' — ' + detail) if detail else ''}"}


def shift_view(lang: str | None, summary: dict | None) -> dict | None:
    if summary is None:
        return None
    return {"date": summary["date"], "shift": summary["shift"], "deliveries": summary["deliveries"],
            "rejected": summary["rejected"], "liters": num(summary["liters"], 2, 2),
            "avg_solids": num(summary["avg_solids_pct"], 2, 2)}
