"""Which records to ask a station for again, and when (pure; docs/recovery.md).

Per stream (one station database's deliveries, or its tank batches:
center, station, epoch, kind) the hub knows what it stored (ranges of seq)
and the highest seq the station announced. Everything below that it has not
stored is a gap, remembered with the time it was first noticed. A gap is
asked for once it has been missing `ask_after_s` (records still queued at
the broker arrive meanwhile), again every `retry_s` while it stays open,
and never more than `max_outstanding` records of one stream at a time, so a
hub that lost its index pulls a station's whole history in steady slices.
Requests go only to the epoch the station announces now (an older
database's records went with it) and only while it is online.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.recovery import seqset
from hub.recovery.seqset import Range

KINDS = ("delivery", "tank")
# Two asked pieces this close are one request: re-sending a few stored
# records (idempotent) is cheaper than another message.
COALESCE_HOLE = 16


@dataclass
class Gap:
    lo: int
    hi: int
    since: float                  # when first noticed (Unix seconds)
    asked_at: float | None = None
    asks: int = 0

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


@dataclass
class Stream:
    center: str
    station: str
    epoch: str
    kind: str
    stored: list[Range] = field(default_factory=list)
    announced: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.center, self.station, self.epoch, self.kind)

    @property
    def upto(self) -> int:
        return max(self.announced, seqset.highest(self.stored))


@dataclass(frozen=True)
class Settings:
    ask_after_s: float = 20.0
    retry_s: float = 60.0
    max_outstanding: int = 2000


def refresh_gaps(stream: Stream, now: float) -> None:
    """Recompute the stream's gaps after it stored or learnt something; a
    piece of an older gap keeps its `since` and `asked_at`."""
    old = stream.gaps
    new: list[Gap] = []
    for lo, hi in seqset.missing(stream.stored, stream.upto):
        cursor = lo
        for gap in old:
            if gap.hi < cursor or gap.lo > hi:
                continue
            if gap.lo > cursor:
                new.append(Gap(cursor, gap.lo - 1, now))
            piece_lo = max(gap.lo, cursor)
            piece_hi = min(gap.hi, hi)
            new.append(Gap(piece_lo, piece_hi, gap.since, gap.asked_at, gap.asks))
            cursor = piece_hi + 1
            if cursor > hi:
                break
        if cursor <= hi:
            new.append(Gap(cursor, hi, now))
    stream.gaps = new


def plan(stream: Stream, now: float, settings: Settings) -> list[Range]:
    """The ranges to ask for now (marking them asked); [] when nothing is due."""
    outstanding = sum(g.size for g in stream.gaps
                      if g.asked_at is not None and now - g.asked_at < settings.retry_s)
    budget = settings.max_outstanding - outstanding
    if budget <= 0:
        return []
    asked: list[Range] = []
    pieces: list[Gap] = []
    for gap in stream.gaps:
        due = (now - gap.since >= settings.ask_after_s
               and (gap.asked_at is None or now - gap.asked_at >= settings.retry_s))
        if not due or budget <= 0:
            pieces.append(gap)
            continue
        if gap.size > budget:          # ask the first part now, the rest later
            rest = Gap(gap.lo + budget, gap.hi, gap.since, gap.asked_at, gap.asks)
            gap = Gap(gap.lo, gap.lo + budget - 1, gap.since, gap.asked_at, gap.asks)
            pieces.extend([gap, rest])
        else:
            pieces.append(gap)
        gap.asked_at, gap.asks = now, gap.asks + 1
        budget -= gap.size
        asked.append((gap.lo, gap.hi))
    stream.gaps = pieces
    return coalesce(asked)


def coalesce(ranges: list[Range], hole: int = COALESCE_HOLE) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo - out[-1][1] - 1 <= hole:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out
