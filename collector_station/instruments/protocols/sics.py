"""Mettler Toledo MT-SICS replies (level 0/1), docs/instruments.md.

    S S     12.34 kg     stable weight (reply to S or SI)
    S D     12.30 kg     dynamic: the balance is still moving (reply to SI)
    S +  /  S -          overload / underload
    S I                  busy (command understood, not executable now)
    ES / ET / EL         syntax, transmission, logical error
    T S     2.10 kg      tare done;   Z A   zero done

An MT-SICS balance only answers requests: the device polls it with `SI`.
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

_UNIT_KG = {"kg": Decimal(1), "g": Decimal("0.001"), "mg": Decimal("0.000001"),
            "lb": Decimal("0.45359237"), "t": Decimal(1000)}
_ERRORS = {"ES": "syntax error / error de sintaxis", "ET": "transmission error / error de transmisión",
           "EL": "logical error / error lógico"}


# A balance writes plain decimals; Decimal() would also take exponents
# ("-1e999999999999", whose product overflows), "1_000" and other scripts'
# digits (found by devtools/fuzz.py).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


def _kg(value: str, unit: str) -> Decimal | None:
    factor = _UNIT_KG.get(unit.lower())
    if factor is None or not _NUMBER.fullmatch(value):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number * factor if number.is_finite() else None


class SicsParser(LineParser):
    name = "sics"
    commands: ClassVar[dict[str, bytes]] = {"read": b"S\r\n", "read_immediate": b"SI\r\n", "tare": b"T\r\n", "zero": b"Z\r\n"}
    poll = b"SI\r\n"

    def parse_line(self, line: bytes) -> Event:
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return ParseError("not ASCII", line)
        parts = text.split()
        if not parts:
            return ParseError("empty line", line)
        if parts[0] in _ERRORS and len(parts) == 1:
            return Status("error", f"{parts[0]}: {_ERRORS[parts[0]]}")
        if len(parts) < 2:
            return ParseError("not an MT-SICS reply", line)
        command, status = parts[0], parts[1]
        if command == "S":
            if status in ("S", "D") and len(parts) == 4:
                value = _kg(parts[2], parts[3])
                if value is None:
                    return ParseError("bad MT-SICS weight", line)
                return Weight(value, status == "S")
            if len(parts) == 2:
                if status == "+":
                    return Weight(None, False, "overload")
                if status == "-":
                    return Weight(None, False, "underload")
                if status == "I":
                    return Status("busy", "balanza ocupada / balance busy")
            return ParseError("bad MT-SICS S reply", line)
        if command == "T":
            if status == "S" and len(parts) == 4 and _kg(parts[2], parts[3]) is not None:
                return Status("tare_done", f"{parts[2]} {parts[3]}")
            if len(parts) == 2 and status in ("I", "+", "-"):
                return Status("tare_failed", {"I": "busy", "+": "upper limit", "-": "lower limit"}[status])
            return ParseError("bad MT-SICS T reply", line)
        if command == "Z":
            if status == "A" and len(parts) == 2:
                return Status("zero_done")
            if len(parts) == 2 and status in ("I", "+", "-"):
                return Status("zero_failed", {"I": "busy", "+": "upper limit", "-": "lower limit"}[status])
            return ParseError("bad MT-SICS Z reply", line)
        return ParseError("not an MT-SICS reply", line)


# -- simulator ---------------------------------------------------------------
def weight_frame(shown: ScaleDisplay, rng: random.Random) -> bytes:
    """The balance's reply to `S`/`SI` while showing `shown`."""
    if shown.overload:
        return b"S +\r\n"
    return f"S {'S' if shown.stable else 'D'} {shown.net_kg:10.2f} kg\r\n".encode()


def command_reply(action: str | None, shown: ScaleDisplay, rng: random.Random) -> bytes:
    """The balance's reply to a command, after carrying it out; `ES` when not understood."""
    if action in ("read", "read_immediate"):
        return weight_frame(shown, rng)
    if action == "tare":
        return f"T S {shown.tare_kg:10.2f} kg\r\n".encode()
    if action == "zero":
        return b"Z A\r\n"
    return b"ES\r\n"


INSTRUMENT = Instrument(SicsParser, "weight", LineSettings(9600, 8, "N"), weight_frame=weight_frame,
                        command_reply=command_reply)
