"""Toledo continuous output: fixed 18-byte frames (docs/instruments.md).

    STX SWA SWB SWC  W W W W W W  T T T T T T  CR  CHK
    0   1   2   3    4 ........9  10 ......15  16  17

Each byte is masked to 7 bits (7-bit lines with a parity bit read as 8N1
keep working). A frame is valid when the 7-bit sum of all 18 bytes is 0
modulo 128. SWA bits 0-2 give the decimal point, code 0-7:

    code     0       1       2       3        4        5        6        7
    shows  XXXX00  XXXXX0  XXXXXX  XXXXX.X  XXXX.XX  XXX.XXX  XX.XXXX  X.XXXXX

that is decimals = code - 2: codes 0 and 1 multiply the six digits by 100
and 10 (weighbridges). SWB bits: 0 net, 1 negative, 2 error (over/under
range), 3 motion, 4 kg (else lb).

Framing is by STX and length only: a frame that fails its checks is one
error and the parser hunts for the next STX inside it, so a half frame after
a cable is plugged in costs one error, never a weight.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    BufferParser,
    Event,
    ParseError,
    Weight,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    ScaleDisplay,
)

STX, CR = 0x02, 0x0D
FRAME_LEN = 18
LB_KG = Decimal("0.45359237")


def checksum(body: bytes) -> int:
    """The byte that makes the 7-bit sum of `body` + it zero modulo 128."""
    return (-sum(b & 0x7F for b in body)) & 0x7F


def build_frame(weight_digits: int, tare_digits: int = 0, *, swa: int = 0x22, net: bool = False,
                negative: bool = False, error: bool = False, motion: bool = False,
                kg: bool = True) -> bytes:
    """An 18-byte frame (simulators and tests). `swa` default: bit 5 set as real
    indicators do, decimal code 2 (`XXXXXX`, no decimals)."""
    swb = 0x20 | net | negative << 1 | error << 2 | motion << 3 | kg << 4
    body = (bytes([STX, swa, swb, 0x20]) + f"{weight_digits:06d}".encode()
            + f"{tare_digits:06d}".encode() + bytes([CR]))
    return body + bytes([checksum(body)])


def decimals(swa: int) -> int:
    """Decimal places the SWA byte's code (bits 0-2) gives: code - 2, so -2
    and -1 (codes 0 and 1) mean the digits are hundreds and tens."""
    return (swa & 0x07) - 2


def swa_for_decimals(places: int) -> int:
    """SWA with the decimal code giving `places` (-2 to 5), bit 5 set."""
    if not -2 <= places <= 5:
        raise ValueError(f"a Toledo indicator shows -2 to 5 decimal places, not {places}")
    return 0x20 | (places + 2)


class ToledoParser(BufferParser):
    name = "toledo"
    # Indicators with a command input accept single letters (no terminator).
    commands: ClassVar[dict[str, bytes]] = {"tare": b"T", "zero": b"Z", "clear": b"C"}

    def _step(self) -> list[Event] | None:
        if not self._buf:
            return None
        if self._buf[0] & 0x7F != STX:
            return self._skip(1)
        if len(self._buf) < FRAME_LEN:
            return None
        raw = bytes(self._buf[:FRAME_LEN])
        frame = bytes(b & 0x7F for b in raw)
        reason = self._check(frame)
        if reason is None:
            return self._found(FRAME_LEN, self._decode(frame))
        # Resynchronise on the next STX inside the rejected frame, if any.
        nxt = next((i for i in range(1, FRAME_LEN) if frame[i] == STX), FRAME_LEN)
        del self._buf[:nxt]
        out: list[Event] = []
        if self._junk:
            out.append(ParseError("noise", bytes(self._junk)))
            self._junk.clear()
        out.append(ParseError(reason, raw))
        return out

    @staticmethod
    def _check(frame: bytes) -> str | None:
        if frame[16] != CR:
            return "no CR at byte 16"
        if sum(frame) % 128 != 0:
            return "checksum mismatch"
        if not (frame[4:10].isdigit() and frame[10:16].isdigit()):
            return "weight or tare not digits"
        return None

    @staticmethod
    def _decode(frame: bytes) -> Event:
        swa, swb = frame[1], frame[2]
        net, negative, error, motion, kg = (bool(swb >> bit & 1) for bit in range(5))
        mode = "net" if net else "gross"
        if error:
            return Weight(None, False, "error", mode)
        value = Decimal(int(frame[4:10])).scaleb(-decimals(swa))
        if not kg:
            value *= LB_KG
        if negative:
            value = -value
        return Weight(value, not motion, "ok", mode)


# -- simulator ---------------------------------------------------------------
def weight_frame(shown: ScaleDisplay, rng: random.Random) -> bytes:
    """What a Toledo indicator streams, two decimals (code 4, `XXXX.XX`)."""
    return build_frame(round(abs(shown.net_kg) * 100), round(shown.tare_kg * 100),
                       swa=swa_for_decimals(2), net=shown.tare_kg > 0,
                       negative=shown.net_kg < 0, error=shown.overload, motion=not shown.stable)


INSTRUMENT = Instrument(ToledoParser, "weight", LineSettings(9600, 7, "E"), weight_frame=weight_frame)
