"""Lactoscan (Milkotronic) result frames, docs/instruments.md.

A result runs from the last `#` to CR, fields separated by spaces:

    fat SNF density(CLR) lactose salts protein temp added_water freezing_point
    calibration_no serial_no pH conductivity

Older models stop earlier (at least fat, SNF and density are required); V2
firmware starts with fat and SNF too. Density comes as CLR (lactometer
degrees): 1 + CLR/1000 g/mL. Words such as `CLFL`, `CLN`, `RIN` are
cleaning and rinse notices, never results.

Two readings of the manual are assumptions kept in one place here: the
freezing point may be sent without its sign (`0.540` for -0.540 °C) or in
m°C (`540`); and the density is the analyzer's computed value referred to
its own reference temperature, so it is marked `compensated` (not corrected
again from the sample temperature, which in an ultrasonic analyzer is the
heated sample's, not the can's).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    Analysis,
    Event,
    LineParser,
    ParseError,
    Status,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    MilkSample,
)

NOTICES = {
    "CLFL": ("cleaning", "limpieza (lavado) / cleaning"),
    "CLN": ("cleaning", "limpieza / cleaning"),
    "CL": ("cleaning", "limpieza / cleaning"),
    "RIN": ("rinse", "enjuague / rinse"),
    "RINS": ("rinse", "enjuague / rinse"),
}
_WORD = re.compile(r"^[A-Z]{2,8}$")
FIELDS = ("fat_pct", "snf_pct", "clr", "lactose_pct", "salts_pct", "protein_pct", "temp_c",
          "added_water_pct", "freezing_point", "calibration", "serial", "ph", "conductivity_ms_cm")


def _dec(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise InvalidOperation
    return value


def freezing_point_c(value: Decimal) -> Decimal:
    """-0.540 °C from `-0.540`, `0.540` or `540` (m°C): milk always freezes below 0."""
    if abs(value) > 5:
        value = value / 1000
    return -abs(value)


class LactoscanParser(LineParser):
    name = "lactoscan"
    max_line = 256          # 13 fields of up to ~10 characters, with spaces
    commands: ClassVar[dict[str, bytes]] = {}

    def parse_line(self, line: bytes) -> Event:
        # Noise before the last `#` (a half frame, a plug-in glitch) is ignored.
        start = line.rfind(b"#")
        try:
            body = (line[start + 1:] if start >= 0 else line).decode("ascii").strip()
        except UnicodeDecodeError:
            return ParseError("not ASCII", line)
        words = body.split()
        if len(words) == 1 and _WORD.match(words[0]):
            status, detail = NOTICES.get(words[0], ("notice", words[0]))
            return Status(status, detail if status == "notice" else f"{words[0]}: {detail}")
        if start < 0:
            return ParseError("no # start", line)
        if not 3 <= len(words) <= len(FIELDS):
            return ParseError("wrong number of Lactoscan fields", line)
        try:
            values = dict(zip(FIELDS, (_dec(w) for w in words)))
        except InvalidOperation:
            return ParseError("bad Lactoscan field", line)
        clr = values["clr"]
        if not Decimal(10) <= clr <= Decimal(45):
            return ParseError("density out of range", line)
        fp = values.get("freezing_point")
        return Analysis(
            density_g_ml=1 + clr / 1000, temp_c=values.get("temp_c"),
            fat_pct=values["fat_pct"], snf_pct=values["snf_pct"],
            protein_pct=values.get("protein_pct"), lactose_pct=values.get("lactose_pct"),
            added_water_pct=values.get("added_water_pct"),
            freezing_point_c=None if fp is None else freezing_point_c(fp),
            compensated=True, salts_pct=values.get("salts_pct"), ph=values.get("ph"),
            conductivity_ms_cm=values.get("conductivity_ms_cm"))


def result_line(fat, snf, clr, lactose, salts, protein, temp, water, fp, *rest) -> bytes:
    """A Lactoscan result line (simulators and tests), fields as given."""
    return ("#" + " ".join(str(x) for x in (fat, snf, clr, lactose, salts, protein, temp, water, fp,
                                            *rest)) + "\r").encode("ascii")


# -- simulator ---------------------------------------------------------------
def analysis_frame(sample: MilkSample) -> bytes:
    """A result line, after a rinse notice every tenth sample as at a real bench."""
    clr = round((sample.density_g_ml - 1) * 1000, 2)
    rinse = b"RIN\r" if sample.seq % 10 == 0 else b""
    return rinse + result_line(
        f"{sample.fat_pct:.2f}", f"{sample.snf_pct:.2f}", f"{clr:.2f}", "4.20", "0.70", "3.20",
        f"{sample.temp_c:.1f}", "0.00", "-0.540", 1, 12345, "6.65", "4.80")


# Baud rate unconfirmed from a public source (devices.md): 9600 8N1 is common.
INSTRUMENT = Instrument(LactoscanParser, "analysis", LineSettings(9600, 8, "N"),
                        analysis_frame=analysis_frame)
