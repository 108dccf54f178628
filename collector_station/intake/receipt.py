"""The delivery receipt the producer takes home, and the shift summary.

Plain text `[printer] width_chars` columns wide (32 for 58 mm ESC/POS
paper, 48 for 80 mm), Spanish by default. The verification code is derived from the
record's chain hash: the producer can find the same code on the fortnight
statement, and a record altered later no longer matches it.
"""

from __future__ import annotations

from datetime import datetime

from collector_station.i18n import reason_text, text

WIDTH = 32


def _pair(label: str, value: str, width: int = WIDTH) -> str:
    space = width - len(label) - len(value)
    return f"{label}{' ' * max(space, 1)}{value}"


def _fmt(value: object, places: int) -> str:
    return "—" if value is None else f"{float(value):.{places}f}"


def render_receipt(record: dict, lang: str = "es", *, producer_name: str = "",
                   reprint: bool = False, width: int = WIDTH, refers: dict | None = None) -> str:
    """The receipt of one delivery record (a sealed delivery/1 payload).

    A void or a correction names the delivery it amends (`refers`, the
    original record) by its number and producer, as the producer knows it
    from their own receipt: never by the internal id."""
    t = lambda key, **kw: text(lang, key, **kw)  # noqa: E731
    ts = datetime.fromisoformat(record["ts"])
    lines = [
        t("receipt_title").center(width),
        f"{record['center']} / {record['station']}".center(width),
        "-" * width,
        _pair(t("receipt_date"), ts.strftime("%d/%m/%Y %H:%M"), width),
        _pair(t("receipt_number"), str(record["seq"]), width),
        _pair(t("receipt_producer"), record["producer"], width),
    ]
    if producer_name and producer_name != record["producer"]:
        lines.append(producer_name[:width].rjust(width))
    lines += [
        _pair(t("receipt_weight"), f"{_fmt(record.get('weight_kg'), 2)} kg", width),
        _pair(t("receipt_liters"), f"{_fmt(record.get('liters'), 2)} L", width),
        _pair(t("receipt_density"), _fmt(record.get("density_15c"), 4), width),
        _pair(t("receipt_temp"), f"{_fmt(record.get('milk_temp_c'), 1)} °C", width),
        _pair(t("receipt_solids"), f"{_fmt(record.get('solids_pct'), 2)} %", width),
        _pair(t("receipt_fat"), f"{_fmt(record.get('fat_pct'), 2)} % ({t('fat_' + str(record.get('fat_source')))})"
              if record.get("fat_source") else "—", width),
        "-" * width,
    ]
    if record.get("accepted"):
        lines.append(t("receipt_accepted").center(width))
    else:
        reason = reason_text(lang, record.get("reject_reason"))
        lines.append(t("receipt_rejected").center(width))
        lines.extend(_wrap(reason, width))
    if record.get("kind") in ("void", "correction"):
        key = "receipt_voids" if record["kind"] == "void" else "receipt_corrects"
        if refers is not None:
            lines.extend(_wrap(t(key, seq=refers["seq"], producer=refers["producer"]), width))
        else:
            lines.append(t(f"{key}_unknown"))
        if record.get("note"):
            lines.extend(_wrap(t("receipt_reason", reason=record["note"]), width))
    lines += [
        "-" * width,
        _pair(t("receipt_code"), record["receipt_code"], width),
    ]
    if reprint:
        lines.append(t("receipt_reprint").center(width))
    return "\n".join(lines) + "\n"


def _wrap(words: str, width: int = WIDTH) -> list[str]:
    out, line = [], ""
    for word in words.split():
        if len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        out.append(line)
    return out


def render_shift_summary(summary: dict, lang: str = "es", width: int = WIDTH) -> str:
    t = lambda key, **kw: text(lang, key, **kw)  # noqa: E731
    lines = [t("shift_title").center(width),
             f"{summary['center']} / {summary['station']}".center(width),
             f"{summary['date']} {summary['shift']}".center(width), "-" * width,
             _pair(t("shift_deliveries"), str(summary["deliveries"]), width),
             _pair(t("shift_rejected"), str(summary["rejected"]), width),
             _pair(t("shift_liters"), f"{summary['liters']:.2f} L", width),
             _pair(t("shift_solids"), "—" if summary["avg_solids_pct"] is None
                   else f"{summary['avg_solids_pct']:.2f} %", width)]
    for reason, count in sorted(summary["rejections"].items()):
        lines.append(_pair("  " + reason_text(lang, reason)[:width - 6], str(count), width))
    lines.append("-" * width)
    for producer, row in sorted(summary["producers"].items()):
        lines.append(_pair(producer, f"{row['liters']:.2f} L  {row['deliveries']}", width))
    return "\n".join(lines) + "\n"
