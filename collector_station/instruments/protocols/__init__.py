"""The instrument registry: every instrument format, one module each.

A module here declares its parser, what it yields, its line settings and its
simulator frames in one `INSTRUMENT` (spec.Instrument). `INSTRUMENTS` below
is the only list of them; `PARSERS`, `WEIGHT_FORMATS`, `ANALYSIS_FORMATS`,
the simulator's formats, the CLI's choices and the config's checks are all
read from it. Adding an instrument: docs/instruments.md.
"""

from __future__ import annotations

from collector_station.instruments.protocols import (
    ad,
    bridge,
    ekomilk,
    lactoscan,
    sics,
    simple,
    toledo,
)
from collector_station.instruments.protocols.ad import ADParser
from collector_station.instruments.protocols.base import (
    Analysis,
    BridgeSample,
    Event,
    LineParser,
    ParseError,
    Parser,
    ParserBug,
    Status,
    TimedAnalysis,
    Volume,
    Weight,
    event_to_json,
)
from collector_station.instruments.protocols.bridge import (
    BridgeParser,
    LoadCellCalibration,
)
from collector_station.instruments.protocols.ekomilk import EkomilkParser
from collector_station.instruments.protocols.lactoscan import LactoscanParser
from collector_station.instruments.protocols.sics import SicsParser
from collector_station.instruments.protocols.simple import SimpleScaleParser
from collector_station.instruments.protocols.spec import (
    Instrument,
    LineSettings,
    MilkSample,
    ScaleDisplay,
)
from collector_station.instruments.protocols.toledo import ToledoParser

# The order is detect_format's tie-break (the common ones first) and the
# order formats are listed in messages and `--help`.
INSTRUMENTS: dict[str, Instrument] = {m.INSTRUMENT.name: m.INSTRUMENT for m in (
    ad, sics, toledo, simple, bridge, lactoscan, ekomilk)}

PARSERS: dict[str, type[Parser]] = {name: i.parser for name, i in INSTRUMENTS.items()}

# Which formats give weights and which give analyses (config checks the
# scale and the densimeter get a fitting one).
WEIGHT_FORMATS = tuple(name for name, i in INSTRUMENTS.items() if i.weighs)
ANALYSIS_FORMATS = tuple(name for name, i in INSTRUMENTS.items() if i.analyses)


def instrument(name: str) -> Instrument:
    """The registry entry of a format; ValueError naming the known ones."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(sorted(INSTRUMENTS))}, auto)") from None


def make_parser(name: str) -> Parser:
    """A fresh parser for a format; ValueError naming the known ones."""
    return instrument(name).parser()


def detect_format(data: bytes) -> str | None:
    """Guess the format of a capture: the parser that decodes most frames.

    A wrong parser turns most frames into errors, so frames minus errors
    ranks them (a parser bug counts as an error); ties go to the order of
    INSTRUMENTS (the common ones first).
    """
    best, best_score = None, 0.0
    for name, entry in INSTRUMENTS.items():
        parser = entry.parser()
        events = parser.feed(data) + parser.flush()
        useful = sum(1 for e in events if e.kind in ("weight", "analysis", "volume", "sample"))
        score = useful + 0.5 * (parser.frames - useful) - parser.errors - parser.bugs
        if useful and score > best_score:
            best, best_score = name, score
    return best


__all__ = [
    "ANALYSIS_FORMATS",
    "INSTRUMENTS",
    "PARSERS",
    "WEIGHT_FORMATS",
    "ADParser",
    "Analysis",
    "BridgeParser",
    "BridgeSample",
    "EkomilkParser",
    "Event",
    "Instrument",
    "LactoscanParser",
    "LineParser",
    "LineSettings",
    "LoadCellCalibration",
    "MilkSample",
    "ParseError",
    "Parser",
    "ParserBug",
    "ScaleDisplay",
    "SicsParser",
    "SimpleScaleParser",
    "Status",
    "TimedAnalysis",
    "ToledoParser",
    "Volume",
    "Weight",
    "detect_format",
    "event_to_json",
    "instrument",
    "make_parser",
]
