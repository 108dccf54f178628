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
    $ERR,<seq>,<code>*XX                            bridge fault (hx711_timeout,
                                                    no_probes, ...)

Calibration, stability and every decision stay on the host (Klipper's rule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import ClassVar

from collector_station.instruments.protocols.base import (
    Analysis,
    BridgeSample,
    Event,
    LineParser,
    ParseError,
    Status,
    Weight,
)
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    MilkSample,
    ScaleDisplay,
)


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
    # Tare and zero of a load cell are host-side (LoadCellCalibration); the
    # bridge takes no commands.
    commands: ClassVar[dict[str, bytes]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.lost_lines = 0          # gaps in the sequence numbers
        self._last_seq: int | None = None

    def parse_line(self, line: bytes) -> Event:
        event = self._parse(line)
        seq = getattr(event, "seq", None)
        if isinstance(seq, int):
            if self._last_seq is not None:
                self.lost_lines += (seq - self._last_seq - 1) % 65536
            self._last_seq = seq
        return event

    def _parse(self, line: bytes) -> Event:
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
                self._last_seq = None      # a restarted bridge counts from 0 again
                return Status("bridge_started", fields[2].decode("ascii", "replace"))
            if kind == b"ERR" and len(fields) == 3:
                return Status("bridge_error", fields[2].decode("ascii", "replace"))
        except (ValueError, IndexError, InvalidOperation, UnicodeDecodeError):
            return ParseError("bad field", line)
        return ParseError("unknown bridge frame", line)


@dataclass(frozen=True)
class LoadCellCalibration:
    """Raw HX711 counts to kg, on the host (the firmware knows no kilograms).

    kg = (raw - offset_counts - tare_counts) / counts_per_kg, rounded to
    `resolution_kg` (an HX711 on a 10-bit-honest load cell is noisy below
    about 5 g; showing more digits would invite arguments at the bench).
    Calibrate with the empty platform (offset_counts = its raw reading) and
    a known mass (counts_per_kg = (raw - offset) / mass).
    """

    counts_per_kg: Decimal
    offset_counts: int = 0
    resolution_kg: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        if self.counts_per_kg == 0:
            raise ValueError("counts_per_kg must not be 0")

    def kg(self, raw: int, tare_counts: int = 0) -> Decimal:
        value = Decimal(raw - self.offset_counts - tare_counts) / Decimal(self.counts_per_kg)
        return value.quantize(self.resolution_kg, rounding=ROUND_HALF_EVEN)

    def weight(self, raw: int, tare_counts: int = 0) -> Weight:
        """A Weight with no stability flag: the station's window decides."""
        return Weight(self.kg(raw, tare_counts), None)

    @staticmethod
    def from_two_points(empty_raw: int, loaded_raw: int, mass_kg: Decimal) -> LoadCellCalibration:
        """The calibration from an empty reading and one with a known mass."""
        return LoadCellCalibration(Decimal(loaded_raw - empty_raw) / Decimal(mass_kg), empty_raw)


# -- simulator ---------------------------------------------------------------
# The simulated HX711: counts per kg and the empty platform's reading.
SIM_COUNTS_PER_KG = 21000
SIM_OFFSET_COUNTS = 84210


def weight_frame(shown: ScaleDisplay, rng: random.Random) -> bytes:
    """Raw HX711 counts with a little electrical noise; the tare is the
    host's business (the firmware knows no kilograms). The stamp wraps at
    2**30 ms like the RP2040's ticks_ms() (firmware/bridge_core.py)."""
    raw = SIM_OFFSET_COUNTS + round((shown.net_kg + shown.tare_kg) * SIM_COUNTS_PER_KG) \
        + rng.randint(-40, 40)
    if shown.overload:
        return frame("ERR", shown.seq, "hx711_saturated")
    return frame("LC", shown.seq, shown.uptime_ms % 2**30, raw)


def analysis_frame(sample: MilkSample) -> bytes:
    """The densimeter line: density at the sample's temperature (R) or at 15 °C (C)."""
    return frame("DEN", sample.seq, f"{sample.density_g_ml:.4f}", f"{sample.temp_c:.1f}",
                 "C" if sample.compensated else "R")


INSTRUMENT = Instrument(
    BridgeParser, "both", LineSettings(115200, 8, "N"), weight_frame=weight_frame,
    analysis_frame=analysis_frame, calibrated_on_host=True,
    sim_config={"counts_per_kg": SIM_COUNTS_PER_KG, "offset_counts": SIM_OFFSET_COUNTS})
