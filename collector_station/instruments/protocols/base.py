"""Sans-IO instrument protocol parsers: bytes in, typed events out.

No parser touches a port (as h11 does for HTTP): the device classes feed them
whatever chunks the serial port returned, and tests feed them captures and
random bytes. A parser never raises on input; anything it cannot decode
becomes a `ParseError` event, counted in `errors`, and the parser
resynchronises on the next frame. An exception inside a parser is a bug,
not line noise: it becomes a `ParserBug` event, counted in `bugs` and
logged at ERROR with the bytes that caused it, so it cannot hide among the
ordinary errors of a noisy line.

Every parser here is chunking-independent by construction: it decides only
on bytes it already holds and waits when it cannot yet decide, so a capture
fed whole or one byte at a time gives the same events (the property tests
check this for random bytes, not only valid frames).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Weight:
    """A scale reading. `value_kg` is None when the status is not `ok`.

    `stable` is the instrument's own flag: True (ST, `S S`, no motion bit),
    False (US, `S D`, motion bit), or None when the source has no flag at all
    (simple milk-scale strings, the HX711 bridge): then only the station's
    window and tolerance decide (devices.StabilityTracker).
    """

    value_kg: Decimal | None
    stable: bool | None
    status: str = "ok"            # ok | overload | underload | error
    mode: str | None = None       # gross | net | None (indicator did not say)
    kind: ClassVar[str] = "weight"


@dataclass(frozen=True)
class Volume:
    """A scale that reports litres (`N0001.25=lt`): never a weight, the
    station cannot tell which density the indicator assumed."""

    value_l: Decimal
    stable: bool | None = None
    kind: ClassVar[str] = "volume"


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
    salts_pct: Decimal | None = None
    ph: Decimal | None = None
    conductivity_ms_cm: Decimal | None = None
    kind: ClassVar[str] = "analysis"


@dataclass(frozen=True)
class Status:
    """A notice from the instrument that is not a measurement (busy, cleaning,
    tare done, an instrument error code)."""

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
class TimedAnalysis:
    """An analysis as the station received it: the intake flow uses only a
    reading newer than the can on the scale (`number`) and young enough
    (`received_s`)."""
    analysis: Analysis
    received_s: float       # monotonic time of arrival
    number: int             # how many readings came before it (0-based)


@dataclass(frozen=True)
class ParseError:
    reason: str
    raw: bytes = b""
    kind: ClassVar[str] = "error"


@dataclass(frozen=True)
class ParserBug:
    """The parser raised on these bytes: a defect in this program, never the
    instrument's fault. Logged at ERROR and counted apart from `ParseError`."""

    parser: str
    exception: str                # class name and message
    raw: bytes = b""
    kind: ClassVar[str] = "parser_bug"


Event = Weight | Volume | Analysis | Status | BridgeSample | ParseError | ParserBug


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


class Parser:
    """What every parser offers the device classes and the CLI.

    `commands` maps an action (`tare`, `zero`, `read`) to the bytes the
    instrument accepts for it; an instrument without the action lacks the key.
    `poll` is sent periodically by the device when the instrument only
    answers requests (MT-SICS); None for instruments that stream.
    """

    name: ClassVar[str] = "?"
    commands: ClassVar[dict[str, bytes]] = {}
    poll: ClassVar[bytes | None] = None

    def __init__(self) -> None:
        self.frames = 0
        self.errors = 0
        self.bugs = 0             # exceptions inside the parser (ParserBug)

    def feed(self, data: bytes) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> list[Event]:
        """End of input (a capture's end): whatever is held becomes an event."""
        return []

    def _count(self, event: Event) -> Event:
        if isinstance(event, ParseError):
            self.errors += 1
        elif isinstance(event, ParserBug):
            self.bugs += 1
        else:
            self.frames += 1
        return event

    def _bug(self, exc: Exception, raw: bytes) -> ParserBug:
        """An exception from the parser's own code: loud, with the bytes that caused it."""
        log.error("parser %s raised %s on %r", self.name, exc.__class__.__name__, raw,
                  exc_info=exc)
        return ParserBug(self.name, f"{exc.__class__.__name__}: {exc}", raw)


class LineParser(Parser):
    """Base for line-framed protocols: frames end at LF (CR alone also ends one).

    The buffer holds at most `max_line` bytes: a longer run without a
    terminator is noise (wrong baud rate) and is dropped as one error per
    `max_line` bytes, so the count does not depend on the chunking.
    """

    name: ClassVar[str] = "line"
    max_line: ClassVar[int] = 128

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

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
            if len(self._buffer) >= self.max_line:
                events.append(self._count(ParseError("line too long", bytes(self._buffer))))
                self._buffer.clear()
        return events

    def flush(self) -> list[Event]:
        return self.feed(b"\n")

    def _safe_parse(self, line: bytes) -> Event:
        try:
            return self.parse_line(line)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the station
            return self._bug(exc, line)

    def parse_line(self, line: bytes) -> Event:  # pragma: no cover - abstract
        raise NotImplementedError


class BufferParser(Parser):
    """Base for binary or self-delimited protocols (Toledo, Ekomilk, simple strings).

    `feed` appends to a buffer and calls `_step` until it returns None (wait
    for more bytes). `_step` must decide only on what the buffer holds.
    Bytes skipped while hunting for a frame are gathered and reported as one
    "noise" error when a frame is found, or every `max_junk` bytes.
    """

    max_junk: ClassVar[int] = 64

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._junk = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buf.extend(data)
        events: list[Event] = []
        while True:
            try:
                produced = self._step()
            except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the station
                produced = [self._bug(exc, bytes(self._buf[:32]))]
                self._buf.clear()
            if produced is None:
                return events
            events.extend(self._count(e) for e in produced)

    def flush(self) -> list[Event]:
        events = []
        if self._buf:
            self._junk.extend(self._buf)
            self._buf.clear()
        if self._junk:
            events.append(self._count(ParseError("incomplete frame", bytes(self._junk))))
            self._junk.clear()
        return events

    def _skip(self, n: int = 1) -> list[Event]:
        """Drop `n` bytes as noise; one error per `max_junk` bytes."""
        self._junk.extend(self._buf[:n])
        del self._buf[:n]
        if len(self._junk) >= self.max_junk:
            junk = bytes(self._junk[:self.max_junk])
            del self._junk[:self.max_junk]
            return [ParseError("noise", junk)]
        return []

    def _found(self, n: int, event: Event) -> list[Event]:
        """A frame of `n` bytes at the buffer's start: report pending noise first."""
        del self._buf[:n]
        out: list[Event] = []
        if self._junk:
            out.append(ParseError("noise", bytes(self._junk)))
            self._junk.clear()
        out.append(event)
        return out

    def _step(self) -> list[Event] | None:  # pragma: no cover - abstract
        raise NotImplementedError
