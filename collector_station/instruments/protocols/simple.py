"""Simple milk-scale strings (Indian collection-unit scales), devices.md:

    +0017.31Kg        weight in kg
    N0001.25=lt       volume in litres (the leading N is stripped)

These scales carry no stability flag (Weight.stable is None: the station's
window and tolerance decide) and often stream frames back to back with no
line terminator, so a frame ends at its unit, and CR/LF only separate.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    BufferParser,
    Event,
    ParseError,
    Volume,
    Weight,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    ScaleDisplay,
)

_FRAME = re.compile(rb"([+\-N]?)(\d{1,7}(?:\.\d{1,4})?)(=?)(kg|lt)", re.IGNORECASE)
# What a frame can look like before its last byte has arrived: wait for more.
_PREFIX = re.compile(rb"[+\-N]?(\d{1,7}(\.\d{0,4})?)?=?(k|l)?", re.IGNORECASE)
_MAX_FRAME = 16


class SimpleScaleParser(BufferParser):
    name = "simple"
    commands: ClassVar[dict[str, bytes]] = {}

    def _step(self) -> list[Event] | None:
        if not self._buf:
            return None
        if self._buf[0] in (0x0A, 0x0D):
            del self._buf[:1]
            if self._junk:
                junk = bytes(self._junk)
                self._junk.clear()
                return [ParseError("noise", junk)]
            return []
        head = bytes(self._buf[:_MAX_FRAME])
        match = _FRAME.match(head)
        if match:
            sign, digits, _, unit = match.groups()
            value = Decimal(digits.decode())
            if sign == b"-":
                value = -value
            event = Weight(value, None) if unit.lower() == b"kg" else Volume(value)
            return self._found(match.end(), event)
        if len(head) < _MAX_FRAME and _PREFIX.fullmatch(head):
            return None
        return self._skip(1)


# -- simulator ---------------------------------------------------------------
def weight_frame(shown: ScaleDisplay, rng: random.Random) -> bytes:
    """What a milk-collection scale streams (it has no overload frame)."""
    return f"{'+' if shown.net_kg >= 0 else '-'}{abs(shown.net_kg):07.2f}Kg\r\n".encode()


INSTRUMENT = Instrument(SimpleScaleParser, "weight", LineSettings(9600, 8, "N"),
                        weight_frame=weight_frame)
