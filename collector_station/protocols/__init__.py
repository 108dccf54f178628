"""Instrument protocols by name; a new instrument is one new parser here."""

from __future__ import annotations

from .ad import ADParser
from .base import (Analysis, BridgeSample, Event, LineParser, ParseError, Status,
                   Weight, event_to_json)
from .bridge import BridgeParser

PARSERS: dict[str, type] = {
    ADParser.name: ADParser,
    BridgeParser.name: BridgeParser,
}


def make_parser(name: str):
    try:
        return PARSERS[name]()
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(sorted(PARSERS))}, auto)") from None


def detect_format(data: bytes) -> str | None:
    """Guess the format of a capture: the parser that decodes most frames."""
    best, best_score = None, 0
    for name, cls in PARSERS.items():
        parser = cls()
        parser.feed(data)
        score = parser.frames - parser.errors * 0.5
        if parser.frames and score > best_score:
            best, best_score = name, score
    return best


__all__ = ["Analysis", "BridgeSample", "Event", "LineParser", "ParseError", "Status",
           "Weight", "event_to_json", "PARSERS", "make_parser", "detect_format"]
