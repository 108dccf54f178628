"""Instrument protocols by name; a new instrument is one new parser here."""

from __future__ import annotations

from collector_station.instruments.protocols.ad import ADParser
from collector_station.instruments.protocols.base import (
    Analysis,
    BridgeSample,
    Event,
    LineParser,
    ParseError,
    Parser,
    Status,
    Volume,
    Weight,
    event_to_json,
)
from collector_station.instruments.protocols.bridge import BridgeParser, LoadCellCalibration
from collector_station.instruments.protocols.ekomilk import EkomilkParser
from collector_station.instruments.protocols.lactoscan import LactoscanParser
from collector_station.instruments.protocols.sics import SicsParser
from collector_station.instruments.protocols.simple import SimpleScaleParser
from collector_station.instruments.protocols.toledo import ToledoParser

PARSERS: dict[str, type] = {cls.name: cls for cls in (
    ADParser, SicsParser, ToledoParser, SimpleScaleParser, BridgeParser, LactoscanParser,
    EkomilkParser)}

# Which parsers give weights and which give analyses (config checks the
# scale and the densimeter get a fitting one).
WEIGHT_FORMATS = ("ad", "sics", "toledo", "simple", "bridge")
ANALYSIS_FORMATS = ("bridge", "lactoscan", "ekomilk")


def make_parser(name: str) -> Parser:
    try:
        return PARSERS[name]()
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(sorted(PARSERS))}, auto)") from None


def detect_format(data: bytes) -> str | None:
    """Guess the format of a capture: the parser that decodes most frames.

    A wrong parser turns most frames into errors, so frames minus errors
    ranks them; ties go to the order of PARSERS (the common ones first).
    """
    best, best_score = None, 0.0
    for name, cls in PARSERS.items():
        parser = cls()
        events = parser.feed(data) + parser.flush()
        useful = sum(1 for e in events if e.kind in ("weight", "analysis", "volume", "sample"))
        score = useful + 0.5 * (parser.frames - useful) - parser.errors
        if useful and score > best_score:
            best, best_score = name, score
    return best


__all__ = [
    "ANALYSIS_FORMATS",
    "PARSERS",
    "WEIGHT_FORMATS",
    "Analysis",
    "BridgeSample",
    "Event",
    "LineParser",
    "LoadCellCalibration",
    "ParseError",
    "Parser",
    "Status",
    "Volume",
    "Weight",
    "detect_format",
    "event_to_json",
    "make_parser",
]
