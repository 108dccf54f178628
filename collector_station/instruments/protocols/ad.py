"""A&D-style "header, value, unit" weight frames (docs/instruments.md).

    ST,+00012.34  kg      stable
    US,NT,+000000.Kg      unstable, net
    ST,GS,+  4.876kg      stable, gross
    OL,+9999999 kg        overload

Line settings are typically 2400 or 9600 baud, 7E1. Commands: Q/S/SI read,
T tare, Z zero.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    Event,
    LineParser,
    ParseError,
    Status,
    Weight,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    ScaleDisplay,
)

_VALUE = re.compile(rb"^\s*([+-]?)\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]{1,3})?\s*$")
_UNIT_KG = {b"kg": Decimal(1), b"g": Decimal("0.001"), b"lb": Decimal("0.45359237"), b"t": Decimal(1000)}
_MODES = {b"GS": "gross", b"NT": "net", b"TR": "tare"}

COMMANDS = {"read": b"Q\r\n", "read_immediate": b"SI\r\n", "tare": b"T\r\n", "zero": b"Z\r\n"}


class ADParser(LineParser):
    name = "ad"
    commands: ClassVar[dict[str, bytes]] = {"read": COMMANDS["read"], "tare": COMMANDS["tare"], "zero": COMMANDS["zero"]}

    def parse_line(self, line: bytes) -> Event:
        parts = line.split(b",")
        header = parts[0].strip()
        if header not in (b"ST", b"US", b"OL", b"QT") or len(parts) not in (2, 3):
            return ParseError("not an A&D frame", line)
        mode = None
        if len(parts) == 3:
            mode = _MODES.get(parts[1].strip())
            if mode is None:
                return ParseError("unknown A&D data field", line)
        if header == b"OL":
            return Weight(None, False, "overload", mode)
        if header == b"QT":
            return Status("count_mode", "scale is in counting mode, not weighing")
        match = _VALUE.match(parts[-1])
        if not match:
            return ParseError("bad A&D value", line)
        sign, digits, unit = match.groups()
        factor = _UNIT_KG.get((unit or b"").lower())
        if factor is None:
            return ParseError("unknown unit", line)
        try:
            value = Decimal(digits.decode()) * factor
        except InvalidOperation:
            return ParseError("bad A&D value", line)
        if sign == b"-":
            value = -value
        return Weight(value, header == b"ST", "ok", mode)


# -- simulator ---------------------------------------------------------------
def frame(header: str, value_kg: float, mode: str = "GS") -> bytes:
    """One A&D frame (`ST,GS,+00012.34 kg`) for simulators and tests."""
    sign = "+" if value_kg >= 0 else "-"
    return f"{header},{mode},{sign}{abs(value_kg):08.2f} kg\r\n".encode()


def weight_frame(shown: ScaleDisplay, rng: random.Random) -> bytes:
    """What an A&D indicator streams while showing `shown`."""
    if shown.overload:
        return b"OL,GS,+9999999 kg\r\n"
    return frame("ST" if shown.stable else "US", shown.net_kg)


INSTRUMENT = Instrument(ADParser, "weight", LineSettings(9600, 7, "E"), weight_frame=weight_frame)
