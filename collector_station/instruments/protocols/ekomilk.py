"""Ekomilk analyzers in binary mode (1200 baud 8E1), docs/instruments.md.

Request: 71 bytes, first 0x08, second the command (0x06: start analysis),
last 0x09. The analyzer acknowledges with ASCII `1`, then answers 18 bytes:

    0-1 fat   2-3 SNF   4-5 density   6-7 added water   8-9 freezing point
    10-11 protein   12-13 conductivity   14-15 volume   16 reserved   17 0x09

Each field is two BCD bytes (four digits). devices.md fixes the order and the
BCD; the decimal places below are this project's reading of them, kept in
`SCALES` so a correction is one line: XX.XX % for fat, SNF, added water and
protein; density as lactometer degrees XX.XX (1 + /1000 g/mL); freezing
point 0.XXXX below zero; conductivity XX.XX mS/cm; volume XX.XX mL.
All-zero data ending in 0x09 is the analyzer's error answer.

There is no start byte, so framing is by length and the 0x09 end byte with
every data nibble a decimal digit; the acknowledgement `1` (0x31) can look
like a first data byte, but fat 31 % is not milk, so 0x31 at a frame start
is always the acknowledgement.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    Analysis,
    BufferParser,
    Event,
    ParseError,
    Status,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    MilkSample,
)

ACK = 0x31
END = 0x09
ANSWER_LEN = 18
REQUEST_LEN = 71
CMD_START_ANALYSIS = 0x06
SCALES = {"fat_pct": -2, "snf_pct": -2, "clr": -2, "added_water_pct": -2,
          "freezing_point": -4, "protein_pct": -2, "conductivity_ms_cm": -2, "volume_ml": -2}


def request(command: int = CMD_START_ANALYSIS) -> bytes:
    """The 71-byte request frame for `command`."""
    return bytes([0x08, command]) + bytes(REQUEST_LEN - 3) + bytes([END])


def _bcd_ok(byte: int) -> bool:
    return (byte >> 4) <= 9 and (byte & 0x0F) <= 9


def _bcd(two: bytes) -> int:
    return int(two.hex())


def build_answer(fat_pct, snf_pct, clr, added_water_pct, freezing_point_c, protein_pct,
                 conductivity_ms_cm, volume_ml) -> bytes:
    """An 18-byte answer (simulators and tests); numbers in the units above."""
    values = dict(fat_pct=fat_pct, snf_pct=snf_pct, clr=clr, added_water_pct=added_water_pct,
                  freezing_point=abs(Decimal(str(freezing_point_c))), protein_pct=protein_pct,
                  conductivity_ms_cm=conductivity_ms_cm, volume_ml=volume_ml)
    out = bytearray()
    for key, exponent in SCALES.items():
        digits = int((Decimal(str(values[key])).scaleb(-exponent)).to_integral_value())
        out += bytes.fromhex(f"{digits:04d}")
    return bytes(out) + b"\x00" + bytes([END])


class EkomilkParser(BufferParser):
    name = "ekomilk"
    commands: ClassVar[dict[str, bytes]] = {"analyze": request(CMD_START_ANALYSIS)}

    def _step(self) -> list[Event] | None:
        if not self._buf:
            return None
        if self._buf[0] == ACK:
            return self._found(1, Status("ack", "análisis iniciado / analysis started"))
        if len(self._buf) < ANSWER_LEN:
            # Decide early only when the held bytes can no longer be an answer.
            if all(_bcd_ok(b) for b in self._buf[:16]):
                return None
            return self._skip(1)
        frame = bytes(self._buf[:ANSWER_LEN])
        if frame[17] != END or not all(_bcd_ok(b) for b in frame[:17]):
            return self._skip(1)
        if not any(frame[:17]):
            return self._found(ANSWER_LEN, Status("error", "análisis fallido / analysis failed"))
        fields = {key: Decimal(_bcd(frame[2 * i:2 * i + 2])).scaleb(exp)
                  for i, (key, exp) in enumerate(SCALES.items())}
        if fields["clr"] == 0:
            return self._found(ANSWER_LEN, ParseError("answer without density", frame))
        return self._found(ANSWER_LEN, Analysis(
            density_g_ml=1 + fields["clr"] / 1000, fat_pct=fields["fat_pct"],
            snf_pct=fields["snf_pct"], added_water_pct=fields["added_water_pct"],
            freezing_point_c=-fields["freezing_point"], protein_pct=fields["protein_pct"],
            conductivity_ms_cm=fields["conductivity_ms_cm"], compensated=True))


# -- simulator ---------------------------------------------------------------
def analysis_frame(sample: MilkSample) -> bytes:
    """The acknowledgement and the answer; the simulator repeats it on each request."""
    clr = round((sample.density_g_ml - 1) * 1000, 2)
    return bytes([ACK]) + build_answer(round(sample.fat_pct, 2), round(sample.snf_pct, 2), clr, 0,
                                       -0.540, 3.2, 4.8, 25)


INSTRUMENT = Instrument(EkomilkParser, "analysis", LineSettings(1200, 8, "E"),
                        analysis_frame=analysis_frame)
