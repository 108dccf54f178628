"""The project's own sensor-bridge line format (firmware/ and densimeter bridges).

Every line is ASCII, NMEA-like, with a checksum so that line noise can never
become a weight or a density:

    $<TYPE>,<seq>,<field>,...*<XX>\\r\\n

`XX` is the XOR of every byte between `$` and `*`, two upper-case hex
digits. `seq` counts lines modulo 65536 so the host sees lost lines. Types:

    $DEN,<seq>,<density_g_ml>,<temp_c>,<R|C>*XX   densimeter reading; R = at
                                                    temp_c, C = already at 15 °C
    $LC,<seq>,<uptime_ms>,<raw_counts>*XX          HX711 load-cell sample
    $TMP,<seq>,<uptime_ms>,<rom_id>,<milli_c>*XX   DS18B20 sample
    $HELLO,<seq>,<firmware_version>*XX             bridge started

Calibration, stability and every decision stay on the host (Klipper's rule).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .base import Analysis, BridgeSample, Event, LineParser, ParseError, Status


def checksum(body: bytes) -> str:
    value = 0
    for byte in body:
        value ^= byte
    return f"{value:02X}"


def frame(*fields: object) -> bytes:
    """Build one bridge line (used by the simulators and the firmware tests)."""
    body = ",".join(str(f) for f in fields).encode("ascii")
    return b"$" + body + b"*" + checksum(body).encode() + b"\r\n"


def _dec(text: bytes) -> Decimal:
    value = Decimal(text.decode("ascii"))
    if not value.is_finite():
        raise InvalidOperation
    return value


class BridgeParser(LineParser):
    name = "bridge"

    def parse_line(self, line: bytes) -> Event:
        start = line.rfind(b"$")
        if start < 0:
            return ParseError("no $ start", line)
        line = line[start:]
        star = line.rfind(b"*")
        if star < 0 or len(line) != star + 3:
            return ParseError("no checksum", line)
        body = line[1:star]
        if line[star + 1:].upper() != checksum(body).encode():
            return ParseError("checksum mismatch", line)
        fields = body.split(b",")
        kind = fields[0]
        try:
            seq = int(fields[1])
            if kind == b"DEN" and len(fields) == 5:
                if fields[4] not in (b"R", b"C"):
                    return ParseError("bad density mode", line)
                return Analysis(density_g_ml=_dec(fields[2]), temp_c=_dec(fields[3]),
                                compensated=fields[4] == b"C")
            if kind == b"LC" and len(fields) == 4:
                return BridgeSample("load_cell", seq, int(fields[2]), int(fields[3]))
            if kind == b"TMP" and len(fields) == 5:
                return BridgeSample("temperature", seq, int(fields[2]), int(fields[4]),
                                    fields[3].decode("ascii"))
            if kind == b"HELLO" and len(fields) == 3:
                return Status("bridge_started", fields[2].decode("ascii", "replace"))
        except (ValueError, IndexError, InvalidOperation, UnicodeDecodeError):
            return ParseError("bad field", line)
        return ParseError("unknown bridge frame", line)
