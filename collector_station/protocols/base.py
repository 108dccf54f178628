"""Sans-IO instrument protocol parsers: bytes in, typed events out.

No parser touches a port (as h11 does for HTTP): the device classes feed them
whatever chunks the serial port returned, and tests feed them captures and
random bytes. A parser never raises on input; anything it cannot decode
becomes a `ParseError` event, counted in `errors`, and the parser
resynchronises on the next frame terminator.
"""

from __future__ import annotations

from dataclasses import dataclass, asdict
from decimal import Decimal
from typing import ClassVar


@dataclass(frozen=True)
class Weight:
    """A scale reading. `value_kg` is None when the status is not `ok`."""

    value_kg: Decimal | None
    stable: bool
    status: str = "ok"            # ok | overload | underload | error
    mode: str | None = None       # gross | net | None (indicator did not say)
    kind: ClassVar[str] = "weight"


@dataclass(frozen=True)
class Analysis:
    """A milk analysis or densimeter reading; fields the instrument lacks are None."""

    density_g_ml: Decimal | None = None
    temp_c: Decimal | None = None
    fat_pct: Decimal | None = None
    snf_pct: Decimal | None = None
    protein_pct: Decimal | None = None
    lactose_pct: Decimal | None = None
    added_water_pct: Decimal | None = None
    freezing_point_c: Decimal | None = None
    compensated: bool = False     # density already referred to 15 °C
    kind: ClassVar[str] = "analysis"


@dataclass(frozen=True)
class Status:
    """A notice from the instrument that is not a measurement."""

    status: str
    detail: str = ""
    kind: ClassVar[str] = "status"


@dataclass(frozen=True)
class BridgeSample:
    """A raw sample from the project's sensor bridge (firmware/)."""

    sensor: str                   # load_cell | temperature
    seq: int
    uptime_ms: int
    raw: int                      # load-cell counts, or millidegrees C
    channel: str = ""             # 1-Wire ROM id for temperature
    kind: ClassVar[str] = "sample"


@dataclass(frozen=True)
class ParseError:
    reason: str
    raw: bytes = b""
    kind: ClassVar[str] = "error"


Event = Weight | Analysis | Status | BridgeSample | ParseError


def event_to_json(event: Event) -> dict:
    """One JSON-ready dict with a `kind` key; decimals become numbers."""
    out: dict = {"kind": event.kind}
    for key, value in asdict(event).items():
        if isinstance(value, Decimal):
            value = float(value)
        elif isinstance(value, bytes):
            value = value.decode("latin-1")
        out[key] = value
    return out


class LineParser:
    """Base for line-framed protocols: frames end at LF (CR alone also ends one).

    The buffer holds at most `max_line` bytes: a longer run without a
    terminator is noise (wrong baud rate) and is dropped as one error.
    """

    name: ClassVar[str] = "line"
    max_line: ClassVar[int] = 128

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.frames = 0
        self.errors = 0

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            if byte in (0x0A, 0x0D):
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    events.append(self._count(self._safe_parse(line)))
                continue
            self._buffer.append(byte)
            if len(self._buffer) > self.max_line:
                events.append(self._count(ParseError("line too long", bytes(self._buffer))))
                self._buffer.clear()
        return events

    def _safe_parse(self, line: bytes) -> Event:
        try:
            return self.parse_line(line)
        except Exception as exc:  # a parser bug must not stop the station
            return ParseError(f"undecodable frame ({exc.__class__.__name__})", line)

    def _count(self, event: Event) -> Event:
        if isinstance(event, ParseError):
            self.errors += 1
        else:
            self.frames += 1
        return event

    def parse_line(self, line: bytes) -> Event:  # pragma: no cover - abstract
        raise NotImplementedError
