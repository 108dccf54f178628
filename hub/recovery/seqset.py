"""Sets of sequence numbers as sorted, disjoint, inclusive ranges (pure).

A station's records arrive mostly in order, so the set of what the hub
stored is one range, or a few while a gap is open: kept as ranges it stays
a handful of rows however many records a station sent.
"""

from __future__ import annotations

from typing import Iterable

Range = tuple[int, int]          # (lo, hi), inclusive


def add(ranges: list[Range], seqs: Iterable[int]) -> list[Range]:
    """`ranges` with `seqs` added (a new list, merged and sorted)."""
    points = sorted(set(seqs))
    if not points:
        return ranges
    new: list[Range] = []
    start = prev = points[0]
    for seq in points[1:]:
        if seq != prev + 1:
            new.append((start, prev))
            start = seq
        prev = seq
    new.append((start, prev))
    return merge(ranges + new)


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, with touching or overlapping ranges joined."""
    out: list[Range] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def missing(ranges: list[Range], upto: int) -> list[Range]:
    """What is not in `ranges` among 1..upto."""
    out: list[Range] = []
    nxt = 1
    for lo, hi in ranges:
        if lo > upto:
            break
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= upto:
        out.append((nxt, upto))
    return out


def count(ranges: Iterable[Range]) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


def highest(ranges: list[Range]) -> int:
    return ranges[-1][1] if ranges else 0
