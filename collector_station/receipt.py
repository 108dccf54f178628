"""The delivery receipt the producer takes home, and the shift summary.

Plain text 32 columns wide (58 mm ESC/POS printers; 80 mm ones print it
too), Spanish by default. The verification code is derived from the
record's chain hash: the producer can find the same code on the fortnight
statement, and a record altered later no longer matches it.
"""

from __future__ import annotations

from datetime import datetime

from .i18n import REASONS, text

WIDTH = 32


def _pair(label: str, value: str) -> str:
    space = WIDTH - len(label) - len(value)
    return f"{label}{' ' * max(space, 1)}{value}"


def _fmt(value: object, places: int) -> str:
    return "—" if value is None else f"{float(value):.{places}f}"


def render_receipt(record: dict, lang: str = "es", *, producer_name: str = "",
                   reprint: bool = False) -> str:
    """The receipt of one delivery record (a sealed delivery/1 payload)."""
    t = lambda key, **kw: text(lang, key, **kw)  # noqa: E731
    ts = datetime.fromisoformat(record["ts"])
    lines = [
        t("receipt_title").center(WIDTH),
        f"{record['center']} / {record['station']}".center(WIDTH),
        "-" * WIDTH,
        _pair(t("receipt_date"), ts.strftime("%d/%m/%Y %H:%M")),
        _pair(t("receipt_number"), str(record["seq"])),
        _pair(t("receipt_producer"), record["producer"]),
    ]
    if producer_name and producer_name != record["producer"]:
        lines.append(producer_name[:WIDTH].rjust(WIDTH))
    lines += [
        _pair(t("receipt_weight"), f"{_fmt(record.get('weight_kg'), 2)} kg"),
        _pair(t("receipt_liters"), f"{_fmt(record.get('liters'), 2)} L"),
        _pair(t("receipt_density"), _fmt(record.get("density_15c"), 4)),
        _pair(t("receipt_temp"), f"{_fmt(record.get('milk_temp_c'), 1)} °C"),
        _pair(t("receipt_solids"), f"{_fmt(record.get('solids_pct'), 2)} %"),
        _pair(t("receipt_fat"), f"{_fmt(record.get('fat_pct'), 2)} % ({t('fat_' + str(record.get('fat_source')))})"
              if record.get("fat_source") else "—"),
        "-" * WIDTH,
    ]
    if record.get("accepted"):
        lines.append(t("receipt_accepted").center(WIDTH))
    else:
        reason = REASONS.get(lang, REASONS["es"]).get(record.get("reject_reason") or "", record.get("reject_reason") or "")
        lines.append(t("receipt_rejected").center(WIDTH))
        lines.extend(_wrap(reason))
    if record.get("kind") in ("void", "correction"):
        lines.append(_pair(t("receipt_refers"), str(record.get("refers_to_seq", record.get("refers_to")))[:16]))
    lines += [
        "-" * WIDTH,
        _pair(t("receipt_code"), record["receipt_code"]),
    ]
    if reprint:
        lines.append(t("receipt_reprint").center(WIDTH))
    return "\n".join(lines) + "\n"


def _wrap(words: str) -> list[str]:
    out, line = [], ""
    for word in words.split():
        if len(line) + len(word) + 1 > WIDTH:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        out.append(line)
    return out


def render_shift_summary(summary: dict, lang: str = "es") -> str:
    t = lambda key, **kw: text(lang, key, **kw)  # noqa: E731
    reasons = REASONS.get(lang, REASONS["es"])
    lines = [t("shift_title").center(WIDTH),
             f"{summary['center']} / {summary['station']}".center(WIDTH),
             f"{summary['date']} {summary['shift']}".center(WIDTH), "-" * WIDTH,
             _pair(t("shift_deliveries"), str(summary["deliveries"])),
             _pair(t("shift_rejected"), str(summary["rejected"])),
             _pair(t("shift_liters"), f"{summary['liters']:.2f} L"),
             _pair(t("shift_solids"), "—" if summary["avg_solids_pct"] is None
                   else f"{summary['avg_solids_pct']:.2f} %")]
    for reason, count in sorted(summary["rejections"].items()):
        lines.append(_pair("  " + reasons.get(reason, reason)[:WIDTH - 6], str(count)))
    lines.append("-" * WIDTH)
    for producer, row in sorted(summary["producers"].items()):
        lines.append(_pair(producer, f"{row['liters']:.2f} L  {row['deliveries']}"))
    return "\n".join(lines) + "\n"
